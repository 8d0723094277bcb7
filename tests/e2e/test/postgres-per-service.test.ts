import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mintToken } from '@glavito/auth';
import { createTestNats, startPostgresServer, TEST_JWT_SECRET, waitFor, type PostgresServer, type TestNats } from '@glavito/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENCRYPTION_KEY, startService, type ServiceProcess } from './system.js';

/**
 * Postgres per service: session, progress and connection-test each on its own PostgreSQL server (private servers
 * started by the test kit), as when each context's database lives on its own box. Each owns only its schema on
 * its server, the system works end to end, and one server going away stops only its own service's work.
 */
let servers: Record<'session' | 'progress' | 'connectionTest', PostgresServer>;
let nats: TestNats;
let urls: { session: string; progress: string; connectionTest: string };
const processes: ServiceProcess[] = [];
let receiver: Server;

beforeAll(async () => {
  const [session, progress, connectionTest] = await Promise.all([startPostgresServer(), startPostgresServer(), startPostgresServer()]);
  servers = { session: session!, progress: progress!, connectionTest: connectionTest! };
  nats = await createTestNats();
  receiver = http.createServer((_req, res) => res.writeHead(200).end('ok'));
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  // No DATABASE_URL shared by anyone: each service gets its own server's.
  const common = {
    JWT_SECRET: TEST_JWT_SECRET,
    NATS_URL: nats.url,
    EVENT_STREAM: nats.streamName,
    EVENT_SUBJECT_PREFIX: nats.subjectPrefix,
    RPC_SUBJECT_PREFIX: nats.rpcPrefix,
    DEAD_LETTER_PREFIX: nats.dlqPrefix,
    DATABASE_URL: '',
  };
  // One after the other: a loaded test machine starts them more reliably than all at once.
  const start = async (name: string, env: Record<string, string>) => {
    const p = await startService(name, { ...common, ...env });
    processes.push(p);
    return p;
  };
  const s = await start('session', { DATABASE_URL: servers.session.url, STEP_DATA_ENCRYPTION_KEY: ENCRYPTION_KEY });
  const pr = await start('progress', { DATABASE_URL: servers.progress.url });
  const ct = await start('connection-test', { DATABASE_URL: servers.connectionTest.url, CONNECTION_TEST_ALLOWED_CIDRS: '127.0.0.1/32' });
  // Called directly (each service checks the token itself): the gateway adds nothing to what is tested here.
  urls = { session: s.url, progress: pr.url, connectionTest: ct.url };
}, 300_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  receiver?.close();
  await nats?.cleanup();
  await Promise.all(Object.values(servers ?? {}).map((s) => s.cleanup()));
});

async function schemasOf(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query<{ schema_name: string }>(
      `SELECT schema_name FROM information_schema.schemata WHERE schema_name IN ('session', 'progress', 'connection_test')`,
    );
    return r.rows.map((row) => row.schema_name).sort();
  } finally {
    await client.end();
  }
}

describe('each service on its own PostgreSQL server', () => {
  it('works end to end, each server holding only its own service’s schema, and one server down stops only its service', async () => {
    const token = mintToken({ secret: TEST_JWT_SECRET, userId: 'pps-admin', tenantId: 'pps-tenant', roles: ['admin'] });
    const owner = (path: string) => (/^\/onboarding\/progress\//.test(path) ? urls.progress : /connection/.test(path) ? urls.connectionTest : urls.session);
    const call = (method: string, path: string, body?: unknown) =>
      fetch(`${owner(path)}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const start = await call('POST', '/onboarding/start', {});
    expect(
      start.status,
      `${await start.clone().text()}\n${processes
        .map(
          (p) =>
            `--- ${p.name}\n${p.logs
              .filter((l) => !l.includes('"level":30'))
              .slice(-10)
              .join('\n')}`,
        )
        .join('\n')}`,
    ).toBe(201);
    const sessionId = ((await start.json()) as { session: { id: string } }).session.id;
    expect((await call('PUT', `/onboarding/step/${sessionId}/organization_setup`, { companyName: 'Own Servers Co', primaryColor: '#123456' })).status).toBe(
      200,
    );
    const percentage = async () => {
      const r = await call('GET', `/onboarding/progress/${sessionId}`);
      return r.status === 200 ? ((await r.json()) as { progressPercentage: number }).progressPercentage : -1;
    };
    const afterFirstSave = await waitFor(async () => ((await percentage()) > 0 ? percentage() : null), {
      timeoutMs: 30_000,
      message: 'progress projected on its own server',
    });
    const port = (receiver.address() as AddressInfo).port;
    const tested = await call('POST', `/onboarding/test-connection/${sessionId}`, {
      channel: 'webhook',
      config: { url: `http://127.0.0.1:${port}/hook`, secret: 'pps-hook-secret' },
    });
    expect(tested.status).toBe(200);
    expect(((await (await call('GET', `/onboarding/connection-history/${sessionId}`)).json()) as { items: unknown[] }).items).toHaveLength(1);

    // Each server holds its own service's schema and no other.
    expect(await schemasOf(servers.session.url)).toEqual(['session']);
    expect(await schemasOf(servers.progress.url)).toEqual(['progress']);
    expect(await schemasOf(servers.connectionTest.url)).toEqual(['connection_test']);

    // The progress service's server goes away: saves and connection tests go on; progress catches up when it is back.
    await servers.progress.kill();
    expect((await call('PUT', `/onboarding/step/${sessionId}/knowledge_base`, { categories: ['FAQ'] })).status).toBe(200);
    expect(
      (
        await call('POST', `/onboarding/test-connection/${sessionId}`, {
          channel: 'webhook',
          config: { url: `http://127.0.0.1:${port}/hook`, secret: 'pps-hook-secret' },
        })
      ).status,
    ).toBe(200);
    await servers.progress.start();
    await waitFor(async () => (await percentage()) > afterFirstSave, {
      timeoutMs: 60_000,
      message: 'progress applies what was saved while its server was down',
    });
  }, 240_000);
});
