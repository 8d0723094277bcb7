import { AuditEventSchema, type AuditEvent } from '@glavito/contracts';
import { createTestNats, readStream, waitFor, type TestNats } from '@glavito/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, makeApp, makeToken } from './helpers.js';

let nats: TestNats;
let app: FastifyInstance;

const audited = async (n: number): Promise<AuditEvent[]> =>
  waitFor(
    async () => {
      const all = await readStream(nats, nats.auditStream);
      return all.length >= n ? all.map((m) => AuditEventSchema.parse(m.event)) : null;
    },
    { message: `${n} audit events` },
  );

beforeAll(async () => {
  nats = await createTestNats();
  // No upstream is deployed: an authenticated call answers 503 and is not a refusal; the refusals come from the edge.
  app = await makeApp({ NATS_URL: nats.url, EVENT_SUBJECT_PREFIX: nats.subjectPrefix, RATE_LIMIT_MAX: '3', AUDIT_DENIALS_PER_MINUTE: '2' });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await nats?.cleanup();
});

describe('refusals at the edge are audited', () => {
  it('401, 403 and 429, with the actor when the token was valid, sampled per actor per minute with the rest counted', async () => {
    const agent = makeToken({ userId: 'agent-9', tenantId: 'tenant-z', roles: ['agent'] });
    const r401 = await app.inject({
      method: 'GET',
      url: '/onboarding/status',
      headers: { authorization: 'Bearer nope', 'user-agent': 'probe/1', 'x-forwarded-for': '10.9.9.9' },
    });
    expect(r401.statusCode).toBe(401);
    const r403 = await app.inject({ method: 'GET', url: '/onboarding/audit', headers: bearer(agent) });
    expect(r403.statusCode).toBe(403);
    // RATE_LIMIT_MAX=3 per user (the 403 was the first): calls 4 to 7 are 429s; 2 go out one by one, 2 are folded into a summary.
    // (No upstream is deployed: the calls let through answer 503, which is no refusal.)
    for (let i = 0; i < 6; i++) await app.inject({ method: 'GET', url: '/onboarding/status', headers: bearer(agent) });
    const events = await audited(4);
    const byCode = (code: string) => events.filter((e) => e.outcome.code === code);
    expect(byCode('401')).toHaveLength(1);
    expect(byCode('401')[0]).toMatchObject({
      tenantId: '-none-',
      actor: { subject: 'anonymous', roles: [] },
      action: 'access.denied',
      userAgent: 'probe/1',
      outcome: { result: 'denied' },
    });
    // The address is the edge's own view of the peer, not the header the client sent.
    expect(byCode('401')[0]!.clientIp).not.toBe('10.9.9.9');
    expect(byCode('403')[0]).toMatchObject({
      tenantId: 'tenant-z',
      actor: { subject: 'agent-9', roles: ['agent'] },
      target: { type: 'route', id: 'GET /onboarding/audit' },
    });
    expect(byCode('429')).toHaveLength(2);

    await app.edgeAuditor.flush();
    const summary = (await audited(5)).find((e) => e.details.sampled === true);
    expect(summary).toMatchObject({ tenantId: 'tenant-z', outcome: { code: '429' }, details: { sampled: true, dropped: 2 } });
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/audit_denials_sampled_total\{[^}]*\} 2/);
  });

  it('a failed publish is a metric and a log line, never a failed request', async () => {
    const broken = await makeApp({ EVENT_SUBJECT_PREFIX: 'nowhere.events' });
    await broken.ready();
    try {
      const res = await broken.inject({ method: 'GET', url: '/onboarding/status' });
      expect(res.statusCode).toBe(401);
      await broken.edgeAuditor.flush();
      expect((await broken.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/audit_publish_failures_total\{[^}]*\} 1/);
    } finally {
      await broken.close();
    }
  });
});
