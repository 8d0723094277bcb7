import http from 'node:http';
import type { AddressInfo, Server, Socket } from 'node:net';
import { mintToken } from '@glavito/auth';
import { ConnectionTestResultSchema, type SessionSummary } from '@glavito/contracts';
import { fakeSessionService } from '@glavito/test-fakes';
import { serviceTestEnv, startTestService, TEST_JWT_SECRET, type TestDatabase, type TestNats, type TestService } from '@glavito/testkit';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, expect } from 'vitest';
import { buildApp, type BuildOptions } from '../src/app.js';
import { loadConnectionTestConfig, type ConnectionTestConfig } from '../src/config.js';
import type { Lookup } from '../src/domain/outbound-policy.js';

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

/** Listens on a loopback port; `close` destroys the open connections first, so a fake that never answers cannot hold the suite. */
export async function listenLoopback(server: Server): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
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

/** The user of the channel tests, owner of session s1. */
export const channelUser = { userId: 'u1', tenantId: 't1' };

/** A harness with session s1 of channelUser and the rate limits out of the way (a suite tests far more often than a user may). */
export async function startChannelTestHarness(opts: { env?: Record<string, string>; lookup?: Lookup } = {}): Promise<Harness> {
  const h = await startHarness({ ...opts, env: { ...opts.env, CONNECTION_TEST_USER_LIMIT: '1000', CONNECTION_TEST_TENANT_LIMIT: '1000' } });
  h.addSession({ id: 's1', ...channelUser });
  return h;
}

/** A lookup that resolves `hosts` to loopback, as a customer's DNS would to their server; any other name is ENOTFOUND. */
export const loopbackLookup =
  (...hosts: string[]): Lookup =>
  async (hostname) => {
    if (hosts.includes(hostname)) return [{ address: '127.0.0.1', family: 4 }];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  };

/**
 * Tests `config` of `channel` as channelUser on `h` and asserts what every answer must be: a 200 whose body holds
 * none of `secrets`, with a result that keeps the contract. Returns the result.
 */
export async function testAnswered(h: Harness, channel: string, config: Record<string, unknown>, secrets: string[], timeout?: number) {
  const r = await testConnection(h.app, channelUser, channel, config, timeout);
  expect(r.statusCode).toBe(200);
  for (const secret of secrets) expect(r.body).not.toContain(secret);
  const { result } = r.json();
  ConnectionTestResultSchema.parse(result);
  return result;
}

export interface ChannelHarness {
  /** The harness, once beforeAll has run. */
  readonly h: Harness;
  /** The fake provider's base URL, once beforeAll has run. */
  readonly base: string;
  /** Tests `config` of the channel as channelUser against the fake provider. */
  test(config: Record<string, unknown>, timeout?: number): Promise<LightMyRequestResponse>;
  /** Runs `fn` with a `test` of the channel on a harness of its own whose provider URLs point at a port nothing listens on. */
  unreachable(fn: (test: (config: Record<string, unknown>) => Promise<LightMyRequestResponse>) => Promise<void>): Promise<void>;
}

/**
 * One channel's test file against a local fake of its provider: before all, `server` listens and a channel-test
 * harness starts with `env(base)` pointing the channel at it; after all, both close.
 */
export function channelHarness(channel: string, server: http.Server, env: (base: string) => Record<string, string>): ChannelHarness {
  let harness: Harness | undefined;
  let base = '';
  beforeAll(async () => {
    base = await listenLocal(server);
    harness = await startChannelTestHarness({ env: env(base) });
  });
  afterAll(async () => {
    await harness?.close();
    closeServer(server);
  });
  const self: ChannelHarness = {
    get h() {
      if (!harness) throw new Error(`${channel} harness used before beforeAll ran`);
      return harness;
    },
    get base() {
      return base;
    },
    test: (config, timeout) => testConnection(self.h.app, channelUser, channel, config, timeout),
    async unreachable(fn) {
      await withHarness(env(`http://127.0.0.1:${await closedPort()}`), channelUser, (closed) =>
        fn((config) => testConnection(closed.app, channelUser, channel, config)),
      );
    },
  };
  return self;
}

/** [name, status] of checks that passed up to the last one, which ended in `lastStatus`. */
export const stages = (names: string[], lastStatus: string) => names.map((name, i) => [name, i === names.length - 1 ? lastStatus : 'success']);

/** Asserts the answer when the provider refused the connection, without `secret` in it. */
export function expectNetworkUnreachable(r: LightMyRequestResponse, secret: string, label?: string): void {
  const { result } = r.json();
  expect(result, label).toMatchObject({ status: 'error', errorCode: 'network_unreachable' });
  expect(result.hint).toMatch(/host and port/);
  expect(checkStatuses(result)).toEqual(stages(['config', 'request'], 'error'));
  expect(r.body).not.toContain(secret);
}

/** Asserts a timeout within a requested 300 ms (the fakes answer slow requests after 3 s), its last check in error; returns the result. */
export function expectTimedOut(r: LightMyRequestResponse) {
  const { result } = r.json();
  expect(result).toMatchObject({ status: 'error', errorCode: 'timeout' });
  expect(result.responseTime).toBeLessThan(2500);
  expect(result.checks.at(-1).status).toBe('error');
  return result;
}
