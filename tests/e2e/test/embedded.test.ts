import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintToken } from '@glavito/auth';
import { TENANT_SETUP_STEPS } from '@glavito/contracts';
import { TEST_JWT_SECRET, waitFor } from '@glavito/testkit';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCommandPortEnv, startCommandPorts, type StartCommandPorts } from './system.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dataDir = mkdtempSync(path.join(tmpdir(), 'glavito-embedded-'));
let ports: StartCommandPorts;
let proc: ChildProcess | null = null;
let logs: string[] = [];

/** The README's start command, forced into embedded mode (this machine does run Postgres and NATS). */
async function startCommand(): Promise<void> {
  logs = [];
  proc = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', 'scripts/start.ts'], {
    cwd: root,
    env: {
      ...process.env,
      GLAVITO_MODE: 'embedded',
      GLAVITO_DATA_DIR: dataDir,
      JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'warn',
      ...startCommandPortEnv(ports),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d: Buffer) => logs.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
  await waitFor(() => logs.join('').includes('Glavito Onboarding is up'), { timeoutMs: 90_000, message: `start command did not come up:\n${logs.join('')}` });
}

async function stopCommand(): Promise<void> {
  if (!proc || proc.exitCode !== null) return;
  const exited = new Promise((r) => proc!.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

beforeAll(async () => {
  ports = await startCommandPorts();
  await startCommand();
}, 120_000);
afterAll(async () => {
  await stopCommand();
  rmSync(dataDir, { recursive: true, force: true });
});

const gateway = () => `http://127.0.0.1:${ports.gateway}`;
const token = mintToken({ secret: TEST_JWT_SECRET, userId: 'emb-admin', tenantId: 'emb-tenant', roles: ['admin'] });
const call = async (method: string, url: string, body?: unknown) => {
  const r = await fetch(`${gateway()}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json().catch(() => null)) as Record<string, unknown> };
};

const DATA: Record<string, unknown> = {
  organization_setup: { companyName: 'Embedded Inc', primaryColor: '#0a0b0c' },
  channel_configuration: { webchat: { enabled: true } },
  ai_configuration: { aiProvider: 'openai', features: ['autoResponse'] },
  payment_setup: { skipPaymentSetup: true },
};

describe('embedded mode (no Postgres or NATS servers)', () => {
  let sessionId: string;

  it('serves /docs and runs a whole onboarding through the gateway with live WebSocket events', async () => {
    expect((await fetch(`${gateway()}/docs/`)).status).toBe(200);
    const start = await call('POST', '/onboarding/start', {});
    expect(start.status).toBe(201);
    sessionId = (start.body.session as { id: string }).id;

    const frames: Array<{ event: string; data: Record<string, unknown> }> = [];
    const ws = new WebSocket(`${gateway().replace('http', 'ws')}/onboarding?token=${token}`);
    ws.on('message', (raw: Buffer) => frames.push(JSON.parse(raw.toString())));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ event: 'join_session', data: { sessionId } }));
    await waitFor(() => frames.find((f) => f.event === 'session_joined'));

    for (const step of TENANT_SETUP_STEPS.filter((s) => s.id !== 'welcome')) {
      const r = await call('PUT', `/onboarding/step/${sessionId}/${step.id}`, DATA[step.id] ?? {});
      expect(r.status, `${step.id}: ${JSON.stringify(r.body)}`).toBe(200);
    }
    const done = await call('POST', `/onboarding/complete/${sessionId}`);
    expect(done.status).toBe(200);

    await waitFor(() => frames.some((f) => f.event === 'onboarding_completed'), { timeoutMs: 20_000, message: 'onboarding_completed push' });
    await waitFor(() => frames.filter((f) => f.event === 'milestone_reached').length === 4, { timeoutMs: 20_000, message: 'four milestones' });
    expect(frames.filter((f) => f.event === 'step_completed')).toHaveLength(10);
    expect(frames.filter((f) => f.event === 'milestone_reached').map((f) => f.data.threshold)).toEqual([25, 50, 75, 100]);
    ws.close();

    const progress = await waitFor(async () => {
      const p = await call('GET', `/onboarding/progress/${sessionId}`);
      return p.body?.progressPercentage === 100 ? p : null;
    });
    expect(progress.body.milestones).toHaveLength(4);
  });

  it('keeps the data across a restart', async () => {
    await stopCommand();
    await startCommand();
    const again = await call('GET', `/onboarding/session/${sessionId}`);
    expect(again.status).toBe(200);
    expect(again.body.session).toMatchObject({ id: sessionId, status: 'completed' });
    const tenant = await call('GET', '/onboarding/tenant-setup/status');
    expect(tenant.body).toMatchObject({ isCompleted: true });
  });
});
