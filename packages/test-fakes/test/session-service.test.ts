import { callRpc } from '@glavito/bus';
import { ProgressGetReplySchema, rpcSubject, SessionGetReplySchema, SessionUserReplySchema, type RpcMethod } from '@glavito/contracts';
import { createTestNats, type TestNats } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeSessionService } from '../src/index.js';

let nats: TestNats;
beforeAll(async () => {
  nats = await createTestNats({ migrate: false });
});
afterAll(async () => {
  await nats?.cleanup();
});

const owner = { userId: 'u-owner', tenantId: 't-a', isAdmin: false };
const ask = (method: RpcMethod, payload: object) =>
  callRpc(
    nats.nc,
    rpcSubject(nats.rpcPrefix, method),
    payload,
    method === 'session.user' ? SessionUserReplySchema : method === 'progress.get' ? ProgressGetReplySchema : SessionGetReplySchema,
    500,
  );

describe('fakeSessionService', () => {
  it("answers the owner and same-tenant admins, and no one else, like the session service's visibility rule", async () => {
    const fake = fakeSessionService(nats);
    try {
      const s = fake.add({ id: 's-1', tenantId: owner.tenantId, userId: owner.userId });
      const admin = { userId: 'u-admin', tenantId: 't-a', isAdmin: true };
      expect(await ask('session.get', { sessionId: 's-1', caller: owner })).toEqual({ found: true, session: s });
      expect(await ask('session.get', { sessionId: 's-1', caller: admin })).toEqual({ found: true, session: s });
      expect(await ask('session.get', { sessionId: 's-1', caller: { ...owner, userId: 'u-colleague' } })).toEqual({ found: false });
      expect(await ask('session.get', { sessionId: 's-1', caller: { ...admin, tenantId: 't-b' } })).toEqual({ found: false });

      expect(await ask('session.user', { userId: owner.userId, caller: owner })).toEqual({ known: true });
      expect(await ask('session.user', { userId: owner.userId, caller: { ...owner, userId: 'u-colleague' } })).toEqual({ known: false });
      expect(await ask('session.user', { userId: owner.userId, caller: { ...admin, tenantId: 't-b' } })).toEqual({ known: false });

      // tenant_setup with welcome and organization_setup done: 2 of its steps, next the channels.
      const progress = await ask('progress.get', { sessionId: 's-1', caller: admin });
      expect(progress).toMatchObject({ found: true, progress: { sessionId: 's-1', completedSteps: 2, currentStep: 'channel_configuration', seq: 0 } });
      expect(await ask('progress.get', { sessionId: 's-1', caller: { ...owner, userId: 'u-colleague' } })).toEqual({ found: false });

      expect(fake.calls.map((c) => c.rpc)).toEqual([
        'session.get',
        'session.get',
        'session.get',
        'session.get',
        'session.user',
        'session.user',
        'session.user',
        'progress.get',
        'progress.get',
      ]);
      expect(fake.calls[0]).toEqual({ rpc: 'session.get', request: { sessionId: 's-1', caller: owner } });
    } finally {
      fake.stop();
    }
  });

  it('answers only the RPCs it is asked to serve, and nothing once stopped', async () => {
    const fake = fakeSessionService(nats, { serves: ['session.get'] });
    fake.add({ id: 's-2', tenantId: owner.tenantId, userId: owner.userId, type: 'agent_welcome', completedSteps: ['welcome'], currentStep: 'profile_setup' });
    expect(await ask('session.get', { sessionId: 's-2', caller: owner })).toMatchObject({
      found: true,
      session: { type: 'agent_welcome', currentStep: 'profile_setup' },
    });
    await expect(ask('progress.get', { sessionId: 's-2', caller: owner })).rejects.toMatchObject({ code: 'no_responders' });
    fake.stop();
    await expect(ask('session.get', { sessionId: 's-2', caller: owner })).rejects.toMatchObject({ code: 'no_responders' });
  });
});
