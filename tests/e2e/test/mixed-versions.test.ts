import { spawn } from 'node:child_process';
import path from 'node:path';
import { mintToken } from '@glavito/auth';
import { ProgressResponseSchema, SessionWithProgressSchema, StatusResponseSchema, StepSaveResponseSchema, TENANT_SETUP_STEPS } from '@glavito/contracts';
import { jetstreamManager } from '@nats-io/jetstream';
import { createTestNats, readStream, startPostgresServer, TEST_JWT_SECRET, waitFor, type PostgresServer, type TestNats } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { WebSocket } from 'ws';
import { buildPreviousRelease, isAncestorOfHead } from './previous-release.js';
import { ENCRYPTION_KEY, freePort, startService, type ServiceProcess } from './system.js';

/**
 * Teams deploy one service at a time, so a service's next version runs beside the others' previous one. Here
 * the previous release (release/previous.json, built from a git worktree as CI builds it) of session, then of
 * progress, runs against the current others through a whole tenant onboarding with live pushes: nothing
 * dead-lettered, every event once and in its session's order, and the same progress on every route and push.
 *
 * Cost in CI: the previous release is built once per commit (previous-release.ts, about a minute; reused while
 * its build is in the temp directory), and each mixed system is four services and the gateway, nothing more.
 */

const OLD = ['session', 'progress'] as const;
/** Five processes boot at once (from source, four of them compile TypeScript on the fly): generous on a loaded machine. */
const READY_TIMEOUT_MS = 180_000;
let release: Awaited<ReturnType<typeof buildPreviousRelease>>;

beforeAll(async () => {
  release = await buildPreviousRelease([...OLD]);
}, 900_000);

/** A service of the previous release from its build output, as its container would run it (`node dist/server.js`). */
async function startBuilt(name: string, env: Record<string, string>, dir: string): Promise<ServiceProcess> {
  const port = await freePort();
  const logs: string[] = [];
  const child = spawn(process.execPath, [path.join(dir, 'services', name, 'dist', 'server.js')], {
    cwd: path.join(dir, 'services', name),
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'info', HOST: '127.0.0.1', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean)));
  child.stderr!.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean)));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${name} (previous release) exited (${child.exitCode}):\n${logs.slice(-20).join('\n')}`);
      return (await fetch(`${url}/health/ready`).catch(() => null))?.ok ?? false;
    },
    { timeoutMs: READY_TIMEOUT_MS, message: `${name} (previous release) ready` },
  );
  return {
    name: `${name}@previous`,
    url,
    child,
    logs,
    env,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

interface Mixed {
  pg: PostgresServer;
  nats: TestNats;
  gateway: ServiceProcess;
  all: ServiceProcess[];
  /** The streams' configurations as `bus:migrate` left them, before any service booted. */
  migrated: Record<string, unknown>;
  stop(): Promise<void>;
}

/** The configuration (not the state) of every stream and bucket of this system's broker names. */
async function brokerConfigs(nats: TestNats): Promise<Record<string, unknown>> {
  const jsm = await jetstreamManager(nats.nc);
  const out: Record<string, unknown> = {};
  for await (const s of jsm.streams.list()) {
    if (s.config.name.startsWith(nats.streamName) || s.config.name.startsWith(`KV_${nats.streamName}`)) out[s.config.name] = s.config;
  }
  return out;
}

async function startMixed(old: (typeof OLD)[number]): Promise<Mixed> {
  // A private PostgreSQL: eight service processes' pools must not depend on the shared server's free slots.
  const pg = await startPostgresServer();
  // The broker state is the current release's `bus:migrate` (the test kit applies it), as in a real deploy: the
  // migration job runs with the release being deployed. The previous release predates it and still calls
  // `ensureStream` at boot (create, or update with its own limits); given the same EVENT_RETENTION as the
  // migration, it writes back the limits already there, which the test checks (`migrated`).
  const nats = await createTestNats();
  const migrated = await brokerConfigs(nats);
  const common = {
    JWT_SECRET: TEST_JWT_SECRET,
    DATABASE_URL: pg.url,
    NATS_URL: nats.url,
    EVENT_STREAM: nats.streamName,
    EVENT_SUBJECT_PREFIX: nats.subjectPrefix,
    RPC_SUBJECT_PREFIX: nats.rpcPrefix,
    DEAD_LETTER_PREFIX: nats.dlqPrefix,
    LOG_LEVEL: 'info',
  };
  const envOf: Record<string, Record<string, string>> = {
    session: { ...common, STEP_DATA_ENCRYPTION_KEY: ENCRYPTION_KEY },
    progress: common,
    'connection-test': common,
    realtime: { ...common, PRESENCE_BUCKET: `${nats.streamName}_presence` },
  };
  const started = await Promise.all(
    Object.entries(envOf).map(([name, env]) =>
      name === old ? startBuilt(name, env, release.dir) : startService(name, env, undefined, undefined, READY_TIMEOUT_MS),
    ),
  );
  const by = Object.fromEntries(started.map((s) => [s.name.replace('@previous', ''), s]));
  const gateway = await startService(
    'gateway',
    {
      JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'warn',
      SESSION_URL: by.session!.url,
      PROGRESS_URL: by.progress!.url,
      CONNECTION_TEST_URL: by['connection-test']!.url,
      REALTIME_URL: by.realtime!.url,
      RATE_LIMIT_MAX: '100000',
    },
    undefined,
    undefined,
    READY_TIMEOUT_MS,
  );
  const all = [...started, gateway];
  return {
    pg,
    nats,
    gateway,
    all,
    migrated,
    async stop() {
      await gateway.stop();
      await Promise.all(started.map((s) => s.stop()));
      await nats.cleanup();
      await pg.cleanup();
    },
  };
}

const STEP_DATA: Record<string, Record<string, unknown>> = {
  organization_setup: { companyName: 'Mixed Versions Co', primaryColor: '#112233', companySize: '10-50', timezone: 'Europe/Paris' },
  channel_configuration: { webchat: { enabled: true } },
  ai_configuration: { aiProvider: 'anthropic', features: ['sentimentAnalysis'] },
  knowledge_base: { categories: ['Getting started'] },
  payment_setup: { stripeAccountId: 'acct_1Abc' },
  team_management: { teamMembers: [{ email: 'ana@mixed.test', role: 'agent' }] },
  workflow_configuration: { autoAssignment: true },
  customer_portal: { enabled: true },
  data_import: { source: 'zendesk' },
  analytics_setup: { kpis: ['csat'] },
};

type Frame = { event: string; data: Record<string, unknown>; id?: string };
const percentOf = (f: Frame) => (f.data.progress as { progressPercentage: number }).progressPercentage;

async function onboardWholeTenant(sys: Mixed, tenantId: string) {
  const token = mintToken({ secret: TEST_JWT_SECRET, userId: `${tenantId}-admin`, tenantId, roles: ['admin'] });
  const call = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${sys.gateway.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };

  const ws = new WebSocket(`${sys.gateway.url.replace('http', 'ws')}/onboarding?token=${token}`);
  const frames: Frame[] = [];
  ws.on('message', (raw: Buffer) => frames.push(JSON.parse(raw.toString()) as Frame));
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  try {
    await waitFor(() => frames.some((f) => f.event === 'connected'), { message: 'connected frame' });
    const start = await call('POST', '/onboarding/start', {});
    expect(start.status, JSON.stringify(start.body)).toBe(201);
    const sessionId = SessionWithProgressSchema.parse(start.body).session.id;
    ws.send(JSON.stringify({ event: 'join_session', data: { sessionId }, id: 'join' }));
    await waitFor(() => frames.some((f) => f.id === 'join'), { message: 'joined' });

    const pushes = () => frames.filter((f) => typeof f.data?.eventId === 'string');
    const progressPushes = () => pushes().filter((f) => ['progress_update', 'milestone_reached', 'onboarding_completed'].includes(f.event));
    for (const step of TENANT_SETUP_STEPS.filter((s) => s.id !== 'welcome')) {
      const saved = await call('PUT', `/onboarding/step/${sessionId}/${step.id}`, STEP_DATA[step.id]);
      expect(saved.status, `${step.id}: ${JSON.stringify(saved.body)}`).toBe(200);
      const expected = StepSaveResponseSchema.parse(saved.body).progress.progressPercentage;
      // The session's answer, the progress route, the session route, the status route and the pushes agree.
      await waitFor(async () => ProgressResponseSchema.parse((await call('GET', `/onboarding/progress/${sessionId}`)).body).progressPercentage === expected, {
        timeoutMs: 20_000,
        message: `/progress reaches ${expected} % after ${step.id}`,
      });
      await waitFor(() => progressPushes().some((f) => percentOf(f) === expected), { timeoutMs: 20_000, message: `a push of ${expected} % after ${step.id}` });
      expect(SessionWithProgressSchema.parse((await call('GET', `/onboarding/session/${sessionId}`)).body).progress.progressPercentage).toBe(expected);
      expect(StatusResponseSchema.parse((await call('GET', '/onboarding/status')).body).progress?.progressPercentage).toBe(expected);
    }
    const done = await call('POST', `/onboarding/complete/${sessionId}`);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    await waitFor(() => frames.some((f) => f.event === 'onboarding_completed'), { timeoutMs: 20_000, message: 'onboarding_completed pushed' });

    ws.send(JSON.stringify({ event: 'get_progress', data: { sessionId }, id: 'gp' }));
    const reply = await waitFor(() => frames.find((f) => f.id === 'gp'), { message: 'get_progress reply' });
    const routes = {
      progress: ProgressResponseSchema.parse((await call('GET', `/onboarding/progress/${sessionId}`)).body).progressPercentage,
      session: SessionWithProgressSchema.parse((await call('GET', `/onboarding/session/${sessionId}`)).body).progress.progressPercentage,
      tenantSetup: ((await call('GET', '/onboarding/tenant-setup/status')).body as { progressPercentage: number }).progressPercentage,
      wsGetProgress: (reply.data.progress as { progressPercentage: number }).progressPercentage,
      lastPush: percentOf(progressPushes().at(-1)!),
    };
    expect(routes).toEqual({ progress: 100, session: 100, tenantSetup: 100, wsGetProgress: 100, lastPush: 100 });

    // Every push once; progress pushes in the progress service's order, never moving back, completion last.
    const ids = pushes().map((f) => f.data.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    const seqs = progressPushes().map((f) => f.data.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const percents = progressPushes().map(percentOf);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(progressPushes().at(-1)!.event).toBe('onboarding_completed');
    expect(
      pushes()
        .filter((f) => f.event === 'milestone_reached')
        .map((f) => f.data.threshold),
    ).toEqual([25, 50, 75, 100]);
    // `welcome` is completed by the start itself (its push reaches the admin's socket, open since before the start).
    expect(
      pushes()
        .filter((f) => f.event === 'step_completed')
        .map((f) => f.data.stepId),
    ).toEqual(TENANT_SETUP_STEPS.map((s) => s.id));
    return sessionId;
  } finally {
    ws.close();
  }
}

/** Every event on the stream once, each producer's events of the session numbered 1..n, and an empty dead-letter stream. */
async function expectCleanStream(sys: Mixed, sessionId: string) {
  const stored = (await readStream(sys.nats)).filter((m) => m.event.sessionId === sessionId);
  const ids = stored.map((m) => m.event.id);
  expect(new Set(ids).size).toBe(ids.length);
  const byProducer = (prefixes: string[]) => stored.filter((m) => prefixes.some((p) => m.event.type.startsWith(p))).map((m) => m.event.sessionSeq);
  const sessionSeqs = byProducer(['session.', 'step.']);
  const progressSeqs = byProducer(['progress.', 'milestone.']);
  expect(sessionSeqs.length).toBeGreaterThanOrEqual(12);
  expect([...sessionSeqs].sort((a, b) => a - b)).toEqual(sessionSeqs.map((_, i) => i + 1));
  expect([...progressSeqs].sort((a, b) => a - b)).toEqual(progressSeqs.map((_, i) => i + 1));
  const dead = await readStream(sys.nats, `${sys.nats.streamName}_DLQ`);
  expect(
    dead.map((m) => m.subject),
    'dead-lettered events',
  ).toEqual([]);
}

it('release/previous.json names a commit HEAD descends from', async () => {
  expect(await isAncestorOfHead(release.commit)).toBe(true);
});

describe.each(OLD)('the previous release of %s against the current other services', (old) => {
  let sys: Mixed;
  beforeAll(async () => {
    sys = await startMixed(old);
  }, 300_000);
  afterAll(async () => {
    await sys?.stop();
  });

  it('a whole tenant onboarding with live pushes: same progress everywhere, every event once, nothing dead-lettered', async () => {
    onTestFailed(() => {
      for (const s of sys.all) console.error(`--- ${s.name} (last lines)\n${s.logs.slice(-25).join('\n')}`);
    });
    const sessionId = await onboardWholeTenant(sys, `mixed-${old}`);
    await expectCleanStream(sys, sessionId);
    // Booting the previous release beside the current ones left the migrated broker state as it was.
    expect(Object.keys(sys.migrated).length).toBeGreaterThanOrEqual(3);
    expect(await brokerConfigs(sys.nats)).toEqual(sys.migrated);
    const crashed = sys.all.filter((s) => s.child.exitCode !== null);
    expect(crashed.map((s) => s.name)).toEqual([]);
  }, 300_000);
});
