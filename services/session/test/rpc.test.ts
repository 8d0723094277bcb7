import { callRpc } from '@glavito/bus';
import { rpcSubject, SessionGetReplySchema, SessionUserReplySchema } from '@glavito/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, type SessionHarness } from './helpers.js';

let h: SessionHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('session.get over NATS request/reply', () => {
  it('answers with the session for its owner and same-tenant admins, not found otherwise', async () => {
    const owner = { userId: 'rpc-agent', tenantId: 'rpc-t' };
    await h.app.inject({
      method: 'POST',
      url: '/onboarding/tenant-setup/complete',
      headers: bearer({ userId: 'rpc-admin', tenantId: 'rpc-t', roles: ['admin'] }),
    });
    const start = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: bearer(owner) });
    const sessionId = start.json().session.id;
    const subject = rpcSubject(h.config.RPC_SUBJECT_PREFIX, 'session.get');
    const ask = (caller: { userId: string; tenantId: string; isAdmin: boolean }) => callRpc(h.nats.nc, subject, { sessionId, caller }, SessionGetReplySchema);

    const mine = await ask({ ...owner, isAdmin: false });
    expect(mine).toMatchObject({ found: true, session: { id: sessionId, type: 'agent_welcome', completedSteps: ['welcome'], status: 'active' } });
    expect(await ask({ userId: 'rpc-admin', tenantId: 'rpc-t', isAdmin: true })).toMatchObject({ found: true });
    expect(await ask({ userId: 'other-agent', tenantId: 'rpc-t', isAdmin: false })).toEqual({ found: false });
    expect(await ask({ userId: 'x', tenantId: 'other-tenant', isAdmin: true })).toEqual({ found: false });
    await expect(callRpc(h.nats.nc, subject, { sessionId: 'bad id!', caller: owner }, SessionGetReplySchema)).rejects.toMatchObject({ code: 'remote_error' });

    // session.user: a user of the caller's tenant (one with a session), visible to themselves and the tenant's admins.
    const userSubject = rpcSubject(h.config.RPC_SUBJECT_PREFIX, 'session.user');
    const known = (userId: string, caller: { userId: string; tenantId: string; isAdmin: boolean }) =>
      callRpc(h.nats.nc, userSubject, { userId, caller }, SessionUserReplySchema);
    expect(await known('rpc-agent', { ...owner, isAdmin: false })).toEqual({ known: true });
    expect(await known('rpc-agent', { userId: 'rpc-admin', tenantId: 'rpc-t', isAdmin: true })).toEqual({ known: true });
    expect(await known('rpc-agent', { userId: 'other-agent', tenantId: 'rpc-t', isAdmin: false })).toEqual({ known: false });
    expect(await known('rpc-agent', { userId: 'x', tenantId: 'other-tenant', isAdmin: true })).toEqual({ known: false });
    expect(await known('nobody', { userId: 'rpc-admin', tenantId: 'rpc-t', isAdmin: true })).toEqual({ known: false });
  });
});
