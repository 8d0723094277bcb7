import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { publishEvent, type Bus } from '@glavito/bus';
import { type EventEnvelope, type EventType } from '@glavito/contracts';
import { fakeSessionEvent } from '@glavito/test-fakes';
import { serviceEntryArgs } from '@glavito/testkit';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

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
  const child = spawn(process.execPath, serviceEntryArgs(path.join(root, 'services', 'realtime')), {
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

/** Valid domain events of one session, each type with its own producer sequence; all of them are pushed to sockets. */
export function eventFactory(s: { id: string; tenantId: string; userId: string }) {
  const seqs = { session: 0, progress: 0 };
  const event = (type: EventType, producer: keyof typeof seqs, stepId?: string) =>
    fakeSessionEvent(s, type, ++seqs[producer], { correlationId: 'corr-sdk', stepId });
  return {
    stepCompleted: (stepId = 'organization_setup') => event('step.completed', 'session', stepId),
    progressUpdated: () => event('progress.updated', 'progress'),
    milestoneReached: () => event('milestone.reached', 'progress'),
  };
}

export async function publish(bus: Bus, subjectPrefix: string, ...events: EventEnvelope[]): Promise<void> {
  for (const e of events) await publishEvent(bus.js, subjectPrefix, e);
}
