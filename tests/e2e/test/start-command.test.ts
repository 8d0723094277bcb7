import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintToken } from '@glavito/auth';
import { createTestDatabase, createTestNats, TEST_JWT_SECRET, waitFor, type TestDatabase, type TestNats } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENCRYPTION_KEY, startCommandPortEnv, startCommandPorts, type StartCommandPorts } from './system.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let ports: StartCommandPorts;
let db: TestDatabase;
let nats: TestNats;
let proc: ChildProcess;
const logs: string[] = [];
const output = () => logs.join('');

/** The README's start command in servers mode, on a fresh database and stream of its own. */
beforeAll(async () => {
  db = await createTestDatabase();
  nats = await createTestNats();
  ports = await startCommandPorts();
  proc = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', 'scripts/start.ts'], {
    cwd: root,
    env: {
      ...process.env,
      GLAVITO_MODE: 'servers',
      DATABASE_URL: db.url,
      NATS_URL: nats.url,
      EVENT_STREAM: nats.streamName,
      EVENT_SUBJECT_PREFIX: nats.subjectPrefix,
      RPC_SUBJECT_PREFIX: nats.rpcPrefix,
      DEAD_LETTER_PREFIX: nats.dlqPrefix,
      PRESENCE_BUCKET: `${nats.streamName}_presence`,
      JWT_SECRET: TEST_JWT_SECRET,
      STEP_DATA_ENCRYPTION_KEY: ENCRYPTION_KEY,
      LOG_LEVEL: 'warn',
      ...startCommandPortEnv(ports),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d: Buffer) => logs.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
  await waitFor(() => output().includes('Glavito Onboarding is up') && output().includes('as the agent:'), {
    timeoutMs: 120_000,
    message: `start command did not come up:\n${output()}`,
  });
}, 150_000);
afterAll(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
  await nats?.cleanup();
  await db?.drop();
});

/** The start command's child running services/<name>. */
function childPid(name: string): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === proc.pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(`services/${name}/src/server.ts`)) return Number(entry);
    } catch {
      // the process went away meanwhile
    }
  }
  throw new Error(`no ${name} process under the start command`);
}

const gateway = () => `http://127.0.0.1:${ports.gateway}`;
const admin = mintToken({ secret: TEST_JWT_SECRET, userId: 'start-admin', tenantId: 'start-tenant', roles: ['admin'] });
const call = (method: string, url: string) => fetch(`${gateway()}${url}`, { method, headers: { authorization: `Bearer ${admin}` } });

describe('pnpm start (servers mode)', () => {
  it('serves the built console and prints links that sign in to it', async () => {
    const link = /as the admin: (\S+)/.exec(output())?.[1];
    expect(link).toMatch(new RegExp(`^${gateway()}/console/#token=`));
    const page = await fetch(link!.split('#')[0]!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module"');
  });

  it('restarts a service killed with SIGKILL while the others keep serving', async () => {
    const started = await call('POST', '/onboarding/start');
    expect(started.status).toBe(201);
    const sessionId = ((await started.json()) as { session: { id: string } }).session.id;
    const victim = childPid('progress');
    process.kill(victim, 'SIGKILL');
    await waitFor(() => output().includes(`progress (pid ${victim}) exited (signal SIGKILL); restarting`), { timeoutMs: 10_000, message: output() });
    // The others still answer meanwhile.
    expect((await call('GET', `/onboarding/session/${sessionId}`)).status).toBe(200);
    await waitFor(() => output().includes('[start] progress is back'), { timeoutMs: 30_000, message: `progress did not come back:\n${output()}` });
    expect(childPid('progress')).not.toBe(victim);
    const progress = await waitFor(
      async () => {
        const r = await call('GET', `/onboarding/progress/${sessionId}`);
        return r.status === 200 ? ((await r.json()) as { progressPercentage: number }) : null;
      },
      { timeoutMs: 15_000 },
    );
    expect(progress.progressPercentage).toBe(9);
    expect(proc.exitCode).toBeNull();
  });
});
