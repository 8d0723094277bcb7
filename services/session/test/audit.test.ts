import { AuditEventSchema, type AuditEvent } from '@glavito/contracts';
import { readStream, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, type SessionHarness } from './helpers.js';

/** Audit events the session service wrote: what its outbox holds (published or not), by action. */
let h: SessionHarness;
const admin = { userId: 'admin_1', tenantId: 'tenant_audit', roles: ['admin'] };
const agent = { userId: 'agent_1', tenantId: 'tenant_audit' };
const CANARY = 'canary-Secr3t-9f8e7d6c';

async function auditEvents(): Promise<AuditEvent[]> {
  const { rows } = await h.db.pool.query("SELECT payload FROM session.outbox WHERE payload->>'type' = 'audit.recorded' ORDER BY seq");
  return rows.map((r) => AuditEventSchema.parse(r.payload));
}
const ofAction = async (action: string) => (await auditEvents()).filter((e) => e.action === action);

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const headers = (u: typeof admin | typeof agent) => ({
  ...bearer(u),
  'user-agent': 'audit-test/1.0',
  'x-forwarded-for': '198.51.100.23',
  'x-correlation-id': 'corr-audit-1',
  'x-request-id': 'req-audit-1',
});

describe('audit records written by the session service', () => {
  let sessionId = '';

  it('a start: one session.start record with actor, target, origin and ids', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: headers(admin), payload: {} });
    expect(res.statusCode).toBe(201);
    sessionId = res.json().session.id;
    const [rec, ...more] = await ofAction('session.start');
    expect(more).toEqual([]);
    expect(rec).toMatchObject({
      tenantId: 'tenant_audit',
      actor: { subject: 'admin_1', roles: ['admin'] },
      target: { type: 'session', id: sessionId },
      outcome: { result: 'allowed', code: null },
      requestId: 'req-audit-1',
      correlationId: 'corr-audit-1',
      clientIp: '198.51.100.23',
      userAgent: 'audit-test/1.0',
    });
    // The second start returns the open session: nothing new happened, nothing new is recorded.
    await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: headers(admin), payload: {} });
    expect(await ofAction('session.start')).toHaveLength(1);
  });

  it('pause and resume: one record each', async () => {
    expect((await h.app.inject({ method: 'POST', url: `/onboarding/pause/${sessionId}`, headers: headers(admin) })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'POST', url: `/onboarding/resume/${sessionId}`, headers: headers(admin) })).statusCode).toBe(200);
    expect((await ofAction('session.pause')).map((e) => e.target.id)).toEqual([sessionId]);
    expect((await ofAction('session.resume')).map((e) => e.target.id)).toEqual([sessionId]);
  });

  it('a step save that sets, keeps, replaces and removes a credential: named fields, never values', async () => {
    const save = (data: Record<string, unknown>) =>
      h.app.inject({ method: 'PUT', url: `/onboarding/step/${sessionId}/organization_setup`, headers: headers(admin), payload: data });
    expect((await save({ companyName: 'Acme', primaryColor: '#112233' })).statusCode).toBe(200);
    expect(await ofAction('step.credentials_change')).toEqual([]);

    const channels = (email: Record<string, unknown>, slack?: Record<string, unknown>) => ({
      email: { enabled: true, address: 'help@audit.test', smtpHost: 'smtp.audit.test', smtpPort: 587, username: 'help', ...email },
      ...(slack ? { slack: { enabled: true, workspace: 'acme', ...slack } } : {}),
    });
    const saveChannels = async (data: Record<string, unknown>) => {
      const res = await h.app.inject({ method: 'PUT', url: `/onboarding/step/${sessionId}/channel_configuration`, headers: headers(admin), payload: data });
      if (res.statusCode !== 200) throw new Error(`channel_configuration save: ${res.statusCode} ${res.body}`);
    };
    await saveChannels(channels({ password: CANARY }, { botToken: `${CANARY}-bot` }));
    // The mask sent back keeps the stored password; the slack token goes; then a new password replaces the old one.
    await saveChannels(channels({ password: '********' }));
    await saveChannels(channels({ password: `${CANARY}-2` }));
    const changes = await ofAction('step.credentials_change');
    expect(changes.map((e) => e.details)).toEqual([
      { stepId: 'channel_configuration', added: ['email.password', 'slack.botToken'], changed: [], removed: [] },
      { stepId: 'channel_configuration', added: [], changed: [], removed: ['slack.botToken'] },
      { stepId: 'channel_configuration', added: [], changed: ['email.password'], removed: [] },
    ]);
    expect(changes[0]).toMatchObject({ actor: { subject: 'admin_1' }, target: { type: 'session', id: sessionId } });
  });

  it('business hours set and removed: one record each', async () => {
    const config = { timezone: 'Europe/Paris', schedule: { monday: { enabled: true, start: '09:00', end: '17:00' } } };
    const put = await h.app.inject({ method: 'PUT', url: '/onboarding/business-hours', headers: headers(admin), payload: config });
    if (put.statusCode !== 200) throw new Error(`business hours: ${put.statusCode} ${put.body}`);
    expect((await h.app.inject({ method: 'DELETE', url: '/onboarding/business-hours', headers: headers(admin) })).statusCode).toBe(200);
    expect((await ofAction('business_hours.update')).map((e) => e.details)).toEqual([{ version: 1, timezone: 'Europe/Paris' }]);
    expect((await ofAction('business_hours.delete')).map((e) => e.details)).toEqual([{ version: 2 }]);
  });

  it('completions: the tenant setup (with its record), then an admin forcing an agent session with required steps missing', async () => {
    const res = await h.app.inject({ method: 'POST', url: `/onboarding/complete/${sessionId}`, headers: headers(admin) });
    expect(res.statusCode, res.body).toBe(200);
    expect((await ofAction('session.complete')).map((e) => e.details)).toEqual([{ sessionType: 'tenant_setup', owner: 'admin_1', forced: false }]);
    expect((await ofAction('tenant_setup.complete')).map((e) => e.target)).toEqual([{ type: 'tenant', id: 'tenant_audit' }]);
    const again = await h.app.inject({ method: 'POST', url: '/onboarding/tenant-setup/complete', headers: headers(admin) });
    expect(again.statusCode).toBe(200);
    expect(await ofAction('tenant_setup.complete')).toHaveLength(2);

    const agent2 = { userId: 'agent_2', tenantId: 'tenant_audit' };
    const started = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: headers(agent2), payload: {} });
    expect(started.statusCode, started.body).toBe(201);
    const agentSession = started.json().session.id;
    const forced = await h.app.inject({ method: 'POST', url: `/onboarding/complete/${agentSession}?force=true`, headers: headers(admin) });
    expect(forced.statusCode, forced.body).toBe(200);
    const [rec, ...more] = await ofAction('session.force_complete');
    expect(more).toEqual([]);
    expect(rec).toMatchObject({
      actor: { subject: 'admin_1', roles: ['admin'] },
      target: { type: 'session', id: agentSession },
      details: { sessionType: 'agent_welcome', owner: 'agent_2', forced: true },
    });
  });

  it('an agent start and an abandon by the sweep (actor system)', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: headers(agent), payload: {} });
    expect(res.statusCode).toBe(201);
    const agentSession = res.json().session.id;
    await h.db.pool.query("UPDATE session.sessions SET last_activity_at = now() - interval '30 days' WHERE id = $1", [agentSession]);
    await h.app.sessionRepository.abandonInactive(
      new Date(Date.now() - 86_400_000).toISOString(),
      10,
      (await import('../src/domain/session-rules.js')).abandonSession as never,
    );
    const abandoned = await ofAction('session.abandon');
    expect(abandoned.map((e) => [e.target.id, e.actor.subject])).toEqual([[agentSession, 'system']]);
  });

  it('never a credential anywhere in an audit event, and every one reaches the audit stream once', async () => {
    const all = await auditEvents();
    expect(JSON.stringify(all)).not.toContain(CANARY);
    expect(JSON.stringify(all)).not.toContain('$sealed');
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
