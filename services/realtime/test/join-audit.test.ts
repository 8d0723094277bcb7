import { AuditEventSchema, type AuditEvent } from '@glavito/contracts';
import { readStream, waitFor } from '@glavito/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTo, startHarness, tokenFor, type Harness } from './helpers.js';

/** Refused sockets and joins are recorded in the audit stream like the gateway's refusals (access.denied). */
let h: Harness;
let app: FastifyInstance;
const alice = { userId: 'alice', tenantId: 'tenant-a' };
const mallory = { userId: 'mallory', tenantId: 'tenant-m', roles: ['admin'] };

beforeAll(async () => {
  h = await startHarness();
  h.addSession({ id: 'sess-a', ...alice });
  app = await h.startInstance();
});
afterAll(async () => {
  await h?.close();
});

const audited = async (): Promise<AuditEvent[]> => (await readStream(h.nats, h.nats.auditStream)).map((m) => AuditEventSchema.parse(m.event));

describe('audit of refused WebSocket access', () => {
  it("a join of another tenant's session: one access.denied naming the session, the actor and the code; an allowed join none", async () => {
    const ok = await connectTo(app, alice);
    await ok.next('connected');
    ok.send({ event: 'join_session', data: { sessionId: 'sess-a' } });
    await ok.next('session_joined');

    const m = await connectTo(app, mallory);
    await m.next('connected');
    m.send({ event: 'join_session', data: { sessionId: 'sess-a' } });
    expect((await m.next('error')).data).toMatchObject({ code: 'session_not_found' });
    const [rec, ...more] = await waitFor(async () => {
      const got = (await audited()).filter((e) => e.tenantId === 'tenant-m');
      return got.length > 0 ? got : null;
    });
    expect(more).toEqual([]);
    expect(rec).toMatchObject({
      action: 'access.denied',
      actor: { subject: 'mallory', roles: ['admin'] },
      target: { type: 'session', id: 'sess-a' },
      outcome: { result: 'denied', code: 'session_not_found' },
      details: { frame: 'join_session' },
    });
    expect((await audited()).filter((e) => e.tenantId === 'tenant-a')).toEqual([]);
    ok.ws.terminate();
    m.ws.terminate();
  });

  it('a bad token: one access.denied without a tenant, never the token', async () => {
    const bad = `${tokenFor(alice).slice(0, -4)}AAAA`;
    const c = await connectTo(app, null, bad);
    await waitFor(() => c.state.closed);
    expect(c.state.closed!.code).toBe(4401);
    const [rec, ...more] = await waitFor(async () => {
      const got = (await audited()).filter((e) => e.tenantId === '-none-');
      return got.length > 0 ? got : null;
    });
    expect(more).toEqual([]);
    expect(rec).toMatchObject({ action: 'access.denied', actor: { subject: 'anonymous', roles: [] }, outcome: { result: 'denied', code: '4401' } });
    expect(JSON.stringify(rec)).not.toContain(bad.slice(0, 40));
  });
});
