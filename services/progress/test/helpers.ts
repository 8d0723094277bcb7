import { mintToken } from '@glavito/auth';
import { buildEnvelope, publishEvent } from '@glavito/bus';
import { computeProgress, stepCatalog, type EventEnvelope, type OnboardingType } from '@glavito/contracts';
import { serviceTestEnv, startTestService, TEST_JWT_SECRET, type TestDatabase, type TestNats, type TestService } from '@glavito/testkit';
import { jetstream } from '@nats-io/jetstream';
import type { FastifyInstance } from 'fastify';
import { buildApp, type BuildOptions } from '../src/app.js';
import { loadProgressConfig, type ProgressConfig } from '../src/config.js';

export interface ProgressHarness extends TestService<ProgressConfig, FastifyInstance> {
  /** Publishes envelopes to the test stream as the session service's relay would (msgID = event id). */
  publish(events: EventEnvelope[]): Promise<void>;
  /** Another instance on the same database, stream and durable consumer. */
  startReplica(env?: Record<string, string>): Promise<FastifyInstance>;
}

export function testConfig(db: TestDatabase, nats: TestNats, env: Record<string, string> = {}): ProgressConfig {
  return loadProgressConfig({
    ...serviceTestEnv(db, nats),
    ...env,
  });
}

export async function startHarness(opts: BuildOptions & { env?: Record<string, string> } = {}): Promise<ProgressHarness> {
  const service = await startTestService({
    config: (db, nats) => testConfig(db, nats, opts.env),
    build: (config) => buildApp(config, { logger: false, ...opts }),
  });
  const { db, nats } = service;
  const js = jetstream(nats.nc);
  return Object.assign(service, {
    async publish(events: EventEnvelope[]) {
      await Promise.all(events.map((e) => publishEvent(js, nats.subjectPrefix, e)));
    },
    async startReplica(env: Record<string, string> = {}) {
      const replica = await buildApp(testConfig(db, nats, { ...opts.env, ...env }), { logger: false });
      service.defer(() => replica.close());
      await replica.ready();
      return replica;
    },
  });
}

export function tokenFor(user: { userId: string; tenantId: string; roles?: string[] }): string {
  return mintToken({ secret: TEST_JWT_SECRET, userId: user.userId, tenantId: user.tenantId, roles: user.roles ?? ['agent'] });
}
export const bearer = (user: { userId: string; tenantId: string; roles?: string[] }) => ({ authorization: `Bearer ${tokenFor(user)}` });

export interface SimulatedSession {
  sessionId: string;
  tenantId: string;
  userId: string;
  type?: OnboardingType;
  /** Steps after welcome, in order; `skip:` prefix skips an optional step. */
  steps: string[];
  complete?: boolean;
  startedAt?: Date;
  /** Minutes between consecutive events. */
  minutesPerEvent?: number;
  correlationId?: string;
}

/** Who and when for the i-th of a generated set of sessions: ids under `prefix`, tenants round-robin, starts `minutesApart` apart. */
export function nthSession(prefix: string, i: number, opts: { tenants: number; firstStart: Date; minutesApart?: number; minutesPerEvent: number }) {
  return {
    sessionId: `${prefix}-${i}`,
    tenantId: `${prefix}-t${i % opts.tenants}`,
    userId: `${prefix}-u${i}`,
    startedAt: new Date(opts.firstStart.getTime() + i * (opts.minutesApart ?? 1) * 60_000),
    minutesPerEvent: opts.minutesPerEvent,
  };
}

/**
 * The events the session service would emit for a flow: session.started, step.completed(welcome),
 * one step event per step (snapshots from the shared progress function) and optionally session.completed.
 */
export function simulateSession(s: SimulatedSession): EventEnvelope[] {
  const type = s.type ?? 'tenant_setup';
  const t0 = (s.startedAt ?? new Date('2026-01-05T09:00:00Z')).getTime();
  const gap = (s.minutesPerEvent ?? 5) * 60_000;
  const completed: string[] = [];
  const skipped: string[] = [];
  let current: string | null = 'welcome';
  let status: 'active' | 'completed' = 'active';
  const events: EventEnvelope[] = [];
  const snapshot = () => {
    const progress = computeProgress(type, { completedSteps: completed, skippedSteps: skipped, currentStep: current });
    current = progress.nextStep;
    return {
      sessionType: type,
      completedSteps: [...completed],
      skippedSteps: [...skipped],
      currentStep: current,
      status,
      progress: computeProgress(type, { completedSteps: completed, skippedSteps: skipped, currentStep: current }),
    };
  };
  const push = (type_: EventEnvelope['type'], data: Record<string, unknown>) => {
    const seq = events.length + 1;
    events.push(
      buildEnvelope({
        type: type_,
        data,
        tenantId: s.tenantId,
        sessionId: s.sessionId,
        userId: s.userId,
        sessionSeq: seq,
        correlationId: s.correlationId ?? `corr-${s.sessionId}`,
        occurredAt: new Date(t0 + (seq - 1) * gap),
      } as never) as EventEnvelope,
    );
  };
  const startedAt = new Date(t0).toISOString();
  push('session.started', { ...snapshot(), role: type === 'tenant_setup' ? 'tenant_admin' : 'agent', startedAt });
  completed.push('welcome');
  push('step.completed', { ...snapshot(), stepId: 'welcome', nextStep: current });
  for (const entry of s.steps) {
    const skip = entry.startsWith('skip:');
    const stepId = skip ? entry.slice(5) : entry;
    if (!stepCatalog(type).some((c) => c.id === stepId)) throw new Error(`unknown step ${stepId}`);
    if (skip) skipped.push(stepId);
    else completed.push(stepId);
    push(skip ? 'step.skipped' : 'step.completed', { ...snapshot(), stepId, nextStep: current });
  }
  if (s.complete) {
    status = 'completed';
    const completedAt = new Date(t0 + events.length * gap).toISOString();
    push('session.completed', {
      ...snapshot(),
      completedAt,
      forced: false,
      summary: {
        totalTime: Math.round((Date.parse(completedAt) - t0) / 60_000),
        stepsCompleted: completed.length,
        featuresEnabled: [],
        type,
        role: type === 'tenant_setup' ? 'tenant_admin' : 'agent',
      },
    });
  }
  return events;
}

/** Every tenant_setup step after welcome, in catalog order (a whole flow for simulateSession). */
export const ALL_TENANT_STEPS: string[] = stepCatalog('tenant_setup')
  .map((step) => step.id)
  .filter((id) => id !== 'welcome');
