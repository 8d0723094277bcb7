import { buildEnvelope } from '@glavito/bus';
import { type OutboxRow } from '@glavito/outbox';
import { computeProgress, type EventEnvelope, type NotificationLanguage } from '@glavito/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { milestoneText } from '../src/domain/policy.js';
import { notifyAdminsOnDefaultRules, notifyAdminsOnDefaultRulesBatch } from '../src/repositories/admin-notices.js';
import { applySessionEventOnDefaultRules } from '../src/repositories/session-copy.js';
import { applied, putOwnPolicy, sessionEvents, startHarness, type Harness } from './helpers.js';

/**
 * The two-round-trip admin notices (tenants on the default rules) must leave what the general transaction leaves:
 * the same milestones are applied to one tenant through each path and the notices, their sequence numbers and
 * their notification.created events compared.
 */
describe('admin notices on the default rules', () => {
  let h: Harness;
  const published: OutboxRow[] = [];
  const opts = () => ({ subjectPrefix: h.config.EVENT_SUBJECT_PREFIX, publishCommitted: (rows: OutboxRow[]) => void published.push(...rows) });
  beforeAll(async () => {
    h = await startHarness();
  }, 120_000);
  afterAll(async () => h?.close());

  /** A tenant with two admins (one French) and an agent, and a session of the first admin. */
  async function tenant(tenantId: string) {
    for (const [userId, role] of [
      ['admin-b', 'tenant_admin'],
      ['admin-a', 'tenant_admin'],
      ['agent', 'agent'],
    ] as const) {
      const s = sessionEvents({ tenantId, sessionId: `${tenantId}-${userId}`, userId, type: role === 'agent' ? 'agent_welcome' : 'tenant_setup' });
      await applySessionEventOnDefaultRules(h.app.pool, s.started('2026-01-14T08:00:00Z'));
    }
    await h.sql.query(`UPDATE notification.recipients SET language = 'fr' WHERE tenant_id = $1 AND user_id = 'admin-b'`, [tenantId]);
  }
  const milestone = (tenantId: string, threshold: number, at: string): EventEnvelope => {
    const progress = computeProgress('tenant_setup', { completedSteps: ['welcome'], skippedSteps: [], currentStep: 'organization_setup' });
    return buildEnvelope({
      type: 'milestone.reached',
      data: { threshold, title: `${threshold} %`, progress },
      tenantId,
      sessionId: `${tenantId}-admin-a`,
      userId: 'admin-a',
      sessionSeq: threshold,
      correlationId: `c-${threshold}`,
      occurredAt: new Date(at),
    } as never) as EventEnvelope;
  };
  const text = (e: EventEnvelope) => (lang: NotificationLanguage) => milestoneText(lang, (e.data as { threshold: number }).threshold, 1);

  const stored = async (tenantId: string) => {
    const { rows: notices } = await h.sql.query(
      `SELECT user_id, session_type, kind, title, body, link, steps_left, regexp_replace(dedupe_key, '^([a-z]+):[0-9a-f-]{36}:', '\\1:<event id>:') AS dedupe_key, created_at, read_at FROM notification.notifications WHERE tenant_id = $1 ORDER BY created_at, user_id`,
      [tenantId],
    );
    const { rows: seqs } = await h.sql.query(`SELECT seq FROM notification.event_seqs WHERE session_id = $1`, [`${tenantId}-admin-a`]);
    const { rows: events } = await h.sql.query<{ payload: EventEnvelope<'notification.created'> }>(
      `SELECT payload FROM notification.outbox WHERE payload->>'type' = 'notification.created' AND payload->>'tenantId' = $1 ORDER BY (payload->>'sessionSeq')::int`,
      [tenantId],
    );
    // Ids, event ids and the tenant differ by construction; everything else must match.
    const events_ = events.map(({ payload: p }) => ({
      userId: p.userId,
      sessionSeq: p.sessionSeq,
      correlationId: p.correlationId,
      version: p.version,
      notification: { ...p.data.notification, id: 'x', sessionId: 'x' },
    }));
    return { notices, seqs, events: events_.sort((a, b) => a.sessionSeq - b.sessionSeq) };
  };

  it('writes the notices, sequence numbers and events the general path writes, once per event id', async () => {
    await tenant('t-fast');
    await tenant('t-general');
    for (const [threshold, at] of [
      [25, '2026-01-14T08:10:00Z'],
      [50, '2026-01-14T08:20:00Z'],
      [75, '2026-01-14T08:30:00Z'],
    ] as const) {
      const fast = milestone('t-fast', threshold, at);
      const general = milestone('t-general', threshold, at);
      expect(await notifyAdminsOnDefaultRules(h.app.pool, fast, 'milestone', text(fast), opts())).toBe('applied');
      await h.app.notificationRepo.notifyAdmins(general, 'milestone', text(general));
      expect(await notifyAdminsOnDefaultRules(h.app.pool, fast, 'milestone', text(fast), opts())).toBe('duplicate');
    }
    const a = await stored('t-fast');
    const b = await stored('t-general');
    expect(a.notices).toHaveLength(6);
    expect(a.notices[0].dedupe_key).toMatch(/^milestone:<event id>:admin-[ab]$/);
    expect(a.seqs).toEqual([{ seq: 6 }]);
    // The general path numbers admins in the order the table gives them; this one by user id: compare as sets.
    expect(new Set(a.events.map((e) => JSON.stringify({ ...e, sessionSeq: 0 })))).toEqual(
      new Set(b.events.map((e) => JSON.stringify({ ...e, sessionSeq: 0 }))),
    );
    expect(a.events.map((e) => e.sessionSeq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(b.events.map((e) => e.sessionSeq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(a.notices).toEqual(b.notices);
    expect(a.seqs).toEqual(b.seqs);
    // The rows handed to the direct publish are the outbox rows, in sequence order.
    expect(published.map((r) => (r.payload as EventEnvelope).sessionSeq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('many events in one call (two tenants, a session with two, a tenant without admins, one with a policy) write what the general path writes', async () => {
    await tenant('t-many-1');
    await tenant('t-many-2');
    await tenant('t-many-g1');
    await tenant('t-many-g2');
    await putOwnPolicy(h, 't-many-policy', 'admin-a');
    const request = (e: EventEnvelope) => ({ event: e, kind: 'milestone' as const, text: text(e) });
    const fast = [
      milestone('t-many-1', 25, '2026-01-14T08:10:00Z'),
      milestone('t-many-2', 25, '2026-01-14T08:10:00Z'),
      milestone('t-many-1', 50, '2026-01-14T08:20:00Z'), // the same session again: a later round
      milestone('t-many-none', 25, '2026-01-14T08:10:00Z'), // no admins
      milestone('t-many-policy', 25, '2026-01-14T08:10:00Z'),
    ];
    expect(await notifyAdminsOnDefaultRulesBatch(h.app.pool, fast.map(request), opts())).toEqual(['applied', 'applied', 'applied', 'applied', 'general']);
    expect(await notifyAdminsOnDefaultRulesBatch(h.app.pool, fast.slice(0, 4).map(request), opts())).toEqual([
      'duplicate',
      'duplicate',
      'duplicate',
      'duplicate',
    ]);
    for (const [t, ms] of [
      ['t-many-g1', [fast[0]!, fast[2]!]],
      ['t-many-g2', [fast[1]!]],
    ] as const) {
      for (const m of ms) {
        const general = milestone(t, (m.data as { threshold: number }).threshold, m.occurredAt);
        await h.app.notificationRepo.notifyAdmins(general, 'milestone', text(general));
      }
    }
    for (const [a, b] of [
      ['t-many-1', 't-many-g1'],
      ['t-many-2', 't-many-g2'],
    ]) {
      const [x, y] = [await stored(a!), await stored(b!)];
      expect(x.notices).toEqual(y.notices);
      expect(x.seqs).toEqual(y.seqs);
      const asSet = (events: typeof x.events) => new Set(events.map((e) => JSON.stringify({ ...e, sessionSeq: 0 })));
      expect(asSet(x.events)).toEqual(asSet(y.events));
      expect(x.events.map((e) => e.sessionSeq)).toEqual(y.events.map((e) => e.sessionSeq));
    }
    expect((await stored('t-many-1')).seqs).toEqual([{ seq: 4 }]);
    const { rows } = await h.sql.query('SELECT count(*)::int AS n FROM notification.inbox WHERE event_id = ANY($1::uuid[])', [fast.map((e) => e.id)]);
    expect(rows[0]!.n).toBe(4);
  });

  it('the consumer notifies the admins of a milestone once, through the fast path or the general one alike', async () => {
    await tenant('t-consumer');
    await tenant('t-consumer-policy');
    await putOwnPolicy(h, 't-consumer-policy', 'admin-a');
    const events = [milestone('t-consumer', 25, '2026-01-14T08:10:00Z'), milestone('t-consumer-policy', 25, '2026-01-14T08:10:00Z')];
    await h.publish([...events, ...events]);
    await applied(h, events);
    for (const t of ['t-consumer', 't-consumer-policy']) {
      const { notices, seqs } = await stored(t);
      expect(notices.map((n) => n.user_id)).toEqual(['admin-a', 'admin-b']);
      expect(seqs).toEqual([{ seq: 2 }]);
    }
  });

  it('in one batch, each tenant in its order: an admin who started before the milestone is notified, one who started after is not', async () => {
    // Published back to back, so the consumer takes them as one batch: two tenants, interleaved.
    const events: EventEnvelope[] = [];
    for (const t of ['t-batch-1', 't-batch-2']) {
      const admin = sessionEvents({ tenantId: t, sessionId: `${t}-admin-a`, userId: 'admin-a' });
      const late = sessionEvents({ tenantId: t, sessionId: `${t}-admin-late`, userId: 'admin-late' });
      events.push(
        admin.started('2026-01-14T08:00:00Z'),
        admin.step('2026-01-14T08:05:00Z', 'organization_setup'),
        milestone(t, 25, '2026-01-14T08:10:00Z'),
        late.started('2026-01-14T08:11:00Z'),
      );
    }
    const interleaved = [0, 1, 2, 3].flatMap((i) => [events[i]!, events[i + 4]!]);
    await h.publish(interleaved);
    await applied(h, interleaved);
    for (const t of ['t-batch-1', 't-batch-2']) {
      const { notices } = await stored(t);
      expect(notices.map((n) => n.user_id)).toEqual(['admin-a']);
      const { rows } = await h.sql.query(`SELECT user_id, is_admin FROM notification.recipients WHERE tenant_id = $1 ORDER BY user_id`, [t]);
      expect(rows).toEqual([
        { user_id: 'admin-a', is_admin: true },
        { user_id: 'admin-late', is_admin: true },
      ]);
    }
  });

  it('writes nothing for a tenant with its own policy (the general path runs instead)', async () => {
    await tenant('t-policy');
    await putOwnPolicy(h, 't-policy', 'admin-a');
    const e = milestone('t-policy', 25, '2026-01-14T08:10:00Z');
    expect(await notifyAdminsOnDefaultRules(h.app.pool, e, 'milestone', text(e), opts())).toBe('general');
    expect((await stored('t-policy')).notices).toEqual([]);
    const { rows } = await h.sql.query('SELECT count(*)::int AS n FROM notification.inbox WHERE event_id = $1', [e.id]);
    expect(rows[0]!.n).toBe(0);
  });
});
