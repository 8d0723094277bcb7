import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildEnvelope, publishEvent, serveRpc, type Bus } from '@glavito/bus';
import {
  computeProgress,
  ProgressGetReplySchema,
  ProgressGetRequestSchema,
  rpcSubject,
  SessionGetReplySchema,
  SessionGetRequestSchema,
  type EventEnvelope,
  type SessionSummary,
} from '@glavito/contracts';
import type { TestNats } from '@glavito/testkit';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.once('error', reject);
  });
}

export interface RealtimeProcess {
  url: string;
  child: ChildProcess;
  logs: string[];
  /** Sends the signal and resolves once the process has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/**
 * The real realtime service in its own Node process, run the way the start command and the e2e suite
 * run it (tests/e2e/test/system.ts), but on a port chosen by the caller so that a restart keeps its URL.
 */
export async function startRealtime(env: Record<string, string>, port: number): Promise<RealtimeProcess> {
  const logs: string[] = [];
  const child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', path.join(root, 'services', 'realtime', 'src', 'server.ts')], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean)));
  child.stderr!.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`realtime exited (${child.exitCode}):\n${logs.slice(-20).join('\n')}`);
    try {
      if ((await fetch(`${url}/health/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`realtime not ready:\n${logs.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    logs,
    kill: (signal) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}

/** The session service faked at its NATS boundary: `session.get` / `progress.get` answered from a map. */
export function fakeSessionService(nats: TestNats) {
  const sessions = new Map<string, SessionSummary>();
  const visible = (sessionId: string, caller: { tenantId: string; userId: string; isAdmin: boolean }) => {
    const s = sessions.get(sessionId);
    return s && s.tenantId === caller.tenantId && (caller.isAdmin || s.userId === caller.userId) ? s : undefined;
  };
  const subs = [
    serveRpc({
      nc: nats.nc,
      subject: rpcSubject(nats.rpcPrefix, 'session.get'),
      queue: 'fake-session',
      request: SessionGetRequestSchema,
      reply: SessionGetReplySchema,
      logger: console,
      handler: async ({ sessionId, caller }) => {
        const s = visible(sessionId, caller);
        return s ? { found: true as const, session: s } : { found: false as const };
      },
    }),
    serveRpc({
      nc: nats.nc,
      subject: rpcSubject(nats.rpcPrefix, 'progress.get'),
      queue: 'fake-progress',
      request: ProgressGetRequestSchema,
      reply: ProgressGetReplySchema,
      logger: console,
      handler: async ({ sessionId, caller }) => {
        const s = visible(sessionId, caller);
        if (!s) return { found: false as const };
        const p = computeProgress(s.type, s);
        const { nextStep: _next, ...rest } = p;
        return { found: true as const, progress: { sessionId, ...rest, estimatedCompletion: null, milestones: [], seq: 0 } };
      },
    }),
  ];
  return {
    add(s: { id: string; tenantId: string; userId: string }) {
      const now = new Date().toISOString();
      sessions.set(s.id, {
        ...s,
        type: 'tenant_setup',
        status: 'active',
        completedSteps: ['welcome', 'organization_setup'],
        skippedSteps: [],
        currentStep: 'channel_configuration',
        startedAt: now,
        lastActivityAt: now,
        completedAt: null,
      });
    },
    stop() {
      for (const s of subs) s.unsubscribe();
    },
  };
}

const snapshot = {
  sessionType: 'tenant_setup' as const,
  completedSteps: ['welcome', 'organization_setup'],
  skippedSteps: [],
  currentStep: 'channel_configuration',
  status: 'active' as const,
};
const progress = computeProgress('tenant_setup', snapshot);

/** Valid domain events of one session, each type with its own producer sequence; all of them are pushed to sockets. */
export function eventFactory(s: { id: string; tenantId: string; userId: string }) {
  const seqs = { session: 0, progress: 0 };
  const base = (producer: 'session' | 'progress') => ({
    tenantId: s.tenantId,
    sessionId: s.id,
    userId: s.userId,
    sessionSeq: ++seqs[producer],
    correlationId: 'corr-sdk',
  });
  return {
    stepCompleted: (stepId = 'organization_setup'): EventEnvelope =>
      buildEnvelope({
        ...base('session'),
        type: 'step.completed',
        data: { ...snapshot, progress, stepId, nextStep: 'channel_configuration' },
      }) as EventEnvelope,
    progressUpdated: (): EventEnvelope =>
      buildEnvelope({
        ...base('progress'),
        type: 'progress.updated',
        data: { progress, estimatedCompletion: null, trigger: 'step.completed' },
      }) as EventEnvelope,
    milestoneReached: (): EventEnvelope =>
      buildEnvelope({ ...base('progress'), type: 'milestone.reached', data: { threshold: 25, title: 'Getting Started', progress } }) as EventEnvelope,
  };
}

export async function publish(bus: Bus, subjectPrefix: string, ...events: EventEnvelope[]): Promise<void> {
  for (const e of events) await publishEvent(bus.js, subjectPrefix, e);
}
