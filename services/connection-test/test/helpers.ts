import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mintToken } from '@glavito/auth';
import { type SessionSummary } from '@glavito/contracts';
import { fakeSessionService } from '@glavito/test-fakes';
import { serviceTestEnv, startTestService, TEST_JWT_SECRET, type TestDatabase, type TestNats, type TestService } from '@glavito/testkit';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, type BuildOptions } from '../src/app.js';
import { loadConnectionTestConfig, type ConnectionTestConfig } from '../src/config.js';

export interface Harness extends TestService<ConnectionTestConfig, FastifyInstance> {
  /** Sessions the fake session service (at its NATS boundary) knows. */
  sessions: Map<string, SessionSummary>;
  addSession(s: { id: string; tenantId: string; userId: string }): void;
}

export function testConfig(db: TestDatabase, nats: TestNats, env: Record<string, string> = {}): ConnectionTestConfig {
  return loadConnectionTestConfig({
    ...serviceTestEnv(db, nats),
    ...env,
  });
}

/** A connection-test service on a fresh database and stream, with a fake session service answering session.get. */
export async function startHarness(opts: BuildOptions & { env?: Record<string, string> } = {}): Promise<Harness> {
  const service = await startTestService({
    config: (db, nats) => testConfig(db, nats, opts.env),
    build: (config) => buildApp(config, { logger: false, ...opts }),
  });
  // Asked only when a test calls the service, so it can start after the app is ready.
  const sessionService = fakeSessionService(service.nats, { serves: ['session.get'] });
  service.defer(() => sessionService.stop());
  return Object.assign(service, {
    sessions: sessionService.sessions,
    addSession(s: { id: string; tenantId: string; userId: string }) {
      sessionService.add(s);
    },
  });
}

export const bearer = (user: { userId: string; tenantId: string; roles?: string[] }) => ({
  authorization: `Bearer ${mintToken({ secret: TEST_JWT_SECRET, userId: user.userId, tenantId: user.tenantId, roles: user.roles ?? ['agent'] })}`,
});

/** Starts a local fake of a provider's API; returns its base URL. */
export async function listenLocal(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export function closeServer(server: http.Server | undefined): void {
  server?.closeAllConnections();
  server?.close();
}

/** A port nothing listens on (fetch refuses "bad ports" such as 1, so one is freed instead). */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  const { port } = new URL(await listenLocal(s));
  await new Promise((resolve) => s.close(resolve));
  return Number(port);
}

/** POST /onboarding/test-connection/s1 as `user` for one channel's config. */
export const testConnection = (
  app: FastifyInstance,
  user: { userId: string; tenantId: string; roles?: string[] },
  channel: string,
  config: Record<string, unknown>,
  timeout?: number,
): Promise<LightMyRequestResponse> =>
  app.inject({ method: 'POST', url: '/onboarding/test-connection/s1', headers: bearer(user), payload: { channel, config, ...(timeout ? { timeout } : {}) } });

/** [name, status] of each check of a result, in order. */
export const checkStatuses = (result: { checks: Array<{ name: string; status: string }> }) => result.checks.map((c) => [c.name, c.status]);

/** Runs `fn` against a harness of its own (e.g. with a provider URL nothing answers on), with session s1 of `user`. */
export async function withHarness(env: Record<string, string>, user: { userId: string; tenantId: string }, fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness({ env });
  try {
    h.addSession({ id: 's1', ...user });
    await fn(h);
  } finally {
    await h.close();
  }
}
