import { ErrorBodySchema } from '@glavito/contracts';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './helpers.js';
import { closeHarness, getAs } from './sockets.js';

// The client counts ask the session service who may see what. When it does not answer (no responder on the RPC
// subject, as while it is down or deploying), the answer is a 503 to retry, not a 500.
let h: Harness;
let app: FastifyInstance;
const admin = { userId: 'ada', tenantId: 'tenant-a', roles: ['admin'] };

beforeAll(async () => {
  h = await startHarness();
  app = await h.startInstance({ RPC_SUBJECT_PREFIX: `${h.nats.rpcPrefix}-nobody-serves` });
});
afterAll(async () => {
  await closeHarness(h);
});

describe('client counts while the session service does not answer', () => {
  it.each(['/onboarding/session-clients/sess-x', '/onboarding/user-clients/someone-else'])('%s: 503 REALTIME_SESSION_LOOKUP_UNAVAILABLE', async (url) => {
    const res = await getAs(app, url, admin);
    expect(res.status).toBe(503);
    expect(ErrorBodySchema.parse(res.body)).toMatchObject({ statusCode: 503, code: 'REALTIME_SESSION_LOOKUP_UNAVAILABLE' });
  });

  it('still counts the caller itself without asking anyone', async () => {
    expect(await getAs(app, '/onboarding/user-clients/ada', admin)).toEqual({ status: 200, body: { userId: 'ada', connectedClients: 0 } });
  });
});
