import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bearer, type FakeUpstream, makeApp, startUpstream } from '../helpers.js';

let notification: FakeUpstream;
let app: FastifyInstance;

beforeAll(async () => {
  notification = await startUpstream('notification');
  app = await makeApp({ NOTIFICATION_URL: notification.url });
});
afterAll(async () => {
  await app?.close();
  await notification?.close();
});

it('routes the notification service: tokens checked at the edge, except the public unsubscribe link (one-click form post)', async () => {
  const noToken = await app.inject({ method: 'GET', url: '/onboarding/notifications' });
  expect(noToken.statusCode).toBe(401);
  expect(notification.received).toHaveLength(0);

  const list = await app.inject({ method: 'GET', url: '/onboarding/notifications?limit=5', headers: bearer() });
  expect(list.statusCode, list.body).toBe(201);
  expect(list.headers['x-upstream']).toBe('notification');

  // No bearer token: the service checks the link's own signature.
  const unsubscribe = await app.inject({
    method: 'POST',
    url: '/onboarding/notifications/unsubscribe?token=abc.def',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'List-Unsubscribe=One-Click',
  });
  expect(unsubscribe.statusCode).toBe(201);
  const forwarded = notification.received.at(-1)!;
  expect(forwarded).toMatchObject({ method: 'POST', url: '/onboarding/notifications/unsubscribe?token=abc.def' });
  expect(forwarded.body.toString()).toBe('List-Unsubscribe=One-Click');

  const policyAsAgent = await app.inject({
    method: 'PUT',
    url: '/onboarding/reminder-policy',
    headers: { ...bearer(), 'content-type': 'application/json' },
    payload: {},
  });
  expect(policyAsAgent.statusCode).toBe(403);
});
