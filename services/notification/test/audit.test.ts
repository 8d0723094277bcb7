import { AuditEventSchema, type AuditEvent } from '@glavito/contracts';
import { readStream, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, testClock, type Harness } from './helpers.js';

/** A reminder policy change: one audit record in the change's transaction (the notification outbox), never its texts. */
let h: Harness;
const T = 'tenant-audit-policy';
const admin = {
  ...bearer({ userId: 'boss', tenantId: T, roles: ['admin'] }),
  'user-agent': 'policy-audit/1.0',
  'x-forwarded-for': '198.51.100.61',
  'x-correlation-id': 'corr-policy-1',
  'x-request-id': 'req-policy-1',
};
const agent = bearer({ userId: 'agent-1', tenantId: T });
const CANARY = 'canary-policy-text-7c1e';

beforeAll(async () => {
  h = await startHarness({ clock: testClock('2026-02-02T10:00:00Z') });
});
afterAll(async () => {
  await h?.close();
});

async function auditEvents(): Promise<AuditEvent[]> {
  const { rows } = await h.sql.query("SELECT payload FROM notification.outbox WHERE payload->>'type' = 'audit.recorded' ORDER BY seq");
  return rows.map((r: { payload: unknown }) => AuditEventSchema.parse(r.payload));
}

const policy = (over: Record<string, unknown> = {}) => ({
  enabled: true,
  inactivityMinutes: 480,
  maxReminders: 3,
  channels: ['in_app', 'email'],
  adminNotifications: { milestones: true, completion: true, email: false },
  texts: { tenant_setup: { en: { subject: `${CANARY} {{stepsLeftCount}} to go`, body: `${CANARY} {{link}}` } } },
  ...over,
});
const put = (body: unknown, headers: Record<string, string> = admin) =>
  h.app.inject({ method: 'PUT', url: '/onboarding/reminder-policy', headers, payload: body as object });

describe('audit records of reminder policy changes', () => {
  it('the first policy: one reminder_policy.change with actor, origin and the parts that differ from the defaults', async () => {
    const res = await put(policy({ inactivityMinutes: 60 }));
    expect(res.statusCode, res.body).toBe(200);
    const [rec, ...more] = await auditEvents();
    expect(more).toEqual([]);
    expect(rec).toMatchObject({
      tenantId: T,
      actor: { subject: 'boss', roles: ['admin'] },
      action: 'reminder_policy.change',
      target: { type: 'reminder_policy', id: T },
      outcome: { result: 'allowed', code: null },
      requestId: 'req-policy-1',
      correlationId: 'corr-policy-1',
      clientIp: '198.51.100.61',
      userAgent: 'policy-audit/1.0',
      details: {
        firstPolicy: true,
        changed: ['inactivityMinutes', 'texts'],
        enabled: true,
        inactivityMinutes: 60,
        maxReminders: 3,
        channels: ['in_app', 'email'],
      },
    });
  });

  it('a change names what changed; refused bodies (400, 403) record nothing', async () => {
    expect((await put(policy({ inactivityMinutes: 60, maxReminders: 11 }))).statusCode).toBe(400);
    expect((await put(policy(), agent)).statusCode).toBe(403);
    expect(await auditEvents()).toHaveLength(1);
    expect((await put(policy({ inactivityMinutes: 60, enabled: false, channels: ['in_app'] }))).statusCode).toBe(200);
    const all = await auditEvents();
    expect(all).toHaveLength(2);
    expect(all[1]!.details).toEqual({
      firstPolicy: false,
      changed: ['enabled', 'channels'],
      enabled: false,
      inactivityMinutes: 60,
      maxReminders: 3,
      channels: ['in_app'],
    });
  });

  it('no text of the policy in any record, and each reaches the audit stream once', async () => {
    const all = await auditEvents();
    expect(JSON.stringify(all)).not.toContain(CANARY);
    const published = await waitFor(
      async () => {
        const got = await readStream(h.nats, h.nats.auditStream);
        return got.length >= all.length ? got : null;
      },
      { message: `${all.length} audit events in the audit stream` },
    );
    expect(published.map((m) => m.event.id).sort()).toEqual(all.map((e) => e.id).sort());
  });
});
