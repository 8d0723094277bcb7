import {
  builtInFlow,
  computeProgress,
  missingDependencies,
  missingRequiredSteps,
  roleForType,
  validateFlowStepData,
  type ResolvedFlow,
  type EventData,
  type EventType,
  type FieldError,
  type OnboardingRole,
  type OnboardingType,
  type ProgressSnapshot,
  type SessionStatus,
  type StepSignals,
} from '@glavito/contracts';
import {
  RequiredStepsMissingError,
  SessionAlreadyPausedError,
  SessionCompletedError,
  SessionNotPausedError,
  StepDependenciesMissingError,
  StepNotInFlowError,
  StepNotSkippableError,
} from '../errors.js';
import { restoreMaskedSecrets } from './masked-secrets.js';
import { featuresEnabled } from './summary.js';

/** A session as stored (step data already sealed: credential fields encrypted). */
export interface SessionRecord {
  id: string;
  tenantId: string;
  userId: string;
  type: OnboardingType;
  role: OnboardingRole;
  status: SessionStatus;
  currentStep: string | null;
  completedSteps: string[];
  skippedSteps: string[];
  stepData: Record<string, Record<string, unknown>>;
  metadata: Record<string, unknown>;
  version: number;
  eventSeq: number;
  startedAt: string;
  lastActivityAt: string;
  completedAt: string | null;
  estimatedCompletion: string | null;
  /** What outside systems last said about its steps (external-signals.ts). */
  signals: StepSignals;
  /** The flow version the session started on (1 = built-in): it keeps it to the end. */
  flowVersion: number;
  /** That version's steps, attached when the record is read (not stored with the session). */
  flow?: ResolvedFlow;
}

/** The flow a session follows: the version it pinned. */
export const flowOfSession = (s: Pick<SessionRecord, 'type' | 'flow'>): ResolvedFlow => s.flow ?? builtInFlow(s.type);

export type PendingEvent = { [T in EventType]: { type: T; data: EventData<T> } }[EventType];

export interface Transition {
  session: SessionRecord;
  /** The one step whose data changed (written with jsonb_set, not a full rewrite). */
  stepWrite?: { stepId: string; value: Record<string, unknown> };
  events: PendingEvent[];
  /** Completing a tenant_setup session marks the tenant's setup completed. */
  markTenantSetupCompleted?: boolean;
  /** The session's signals changed (written whole; a few small entries per session). */
  signalsChanged?: boolean;
}

const addMinutes = (iso: string, minutes: number) => new Date(Date.parse(iso) + minutes * 60_000).toISOString();

export function snapshot(s: SessionRecord): {
  sessionType: OnboardingType;
  completedSteps: string[];
  skippedSteps: string[];
  currentStep: string | null;
  status: SessionStatus;
  progress: ProgressSnapshot;
  flowVersion: number;
} {
  return {
    sessionType: s.type,
    completedSteps: s.completedSteps,
    skippedSteps: s.skippedSteps,
    currentStep: s.currentStep,
    status: s.status,
    progress: computeProgress(flowOfSession(s), s),
    flowVersion: s.flowVersion,
  };
}

export function progressOf(s: SessionRecord): ProgressSnapshot {
  return computeProgress(flowOfSession(s), s);
}

/** Moves the current step by the next-step rule and refreshes the estimate. */
export function settle(s: SessionRecord, now: string): SessionRecord {
  const progress = computeProgress(flowOfSession(s), s);
  return {
    ...s,
    currentStep: progress.nextStep,
    lastActivityAt: now,
    estimatedCompletion: s.status === 'completed' ? null : addMinutes(now, progress.estimatedTimeRemaining),
  };
}

function reactivate(s: SessionRecord, events: PendingEvent[]): SessionRecord {
  if (s.status !== 'paused' && s.status !== 'abandoned') return s;
  const active = { ...s, status: 'active' as const };
  events.push({ type: 'session.resumed', data: snapshot(active) });
  return active;
}

export interface NewSessionInput {
  id: string;
  tenantId: string;
  userId: string;
  type: OnboardingType;
  metadata: Record<string, unknown>;
  now: string;
  /** The tenant's current flow of that type (the built-in one when absent): the session pins its version. */
  flow?: ResolvedFlow;
}

/** A new session: `welcome` is completed on start, and the result shows the state after that. */
export function startSession(input: NewSessionInput): Transition {
  const base: SessionRecord = {
    id: input.id,
    tenantId: input.tenantId,
    userId: input.userId,
    type: input.type,
    role: roleForType(input.type),
    status: 'active',
    currentStep: 'welcome',
    completedSteps: [],
    skippedSteps: [],
    stepData: {},
    metadata: input.metadata,
    version: 1,
    eventSeq: 0,
    startedAt: input.now,
    lastActivityAt: input.now,
    completedAt: null,
    estimatedCompletion: null,
    signals: {},
    flowVersion: input.flow?.version ?? 1,
    ...(input.flow ? { flow: input.flow } : {}),
  };
  const started = settle(base, input.now);
  const afterWelcome = settle({ ...started, completedSteps: ['welcome'], stepData: { welcome: {} } }, input.now);
  return {
    session: afterWelcome,
    events: [
      // The start event shows the state the start answers (welcome done), as its step event does: a progress
      // bar fed by both never goes 9 % → 0 % → 9 %.
      { type: 'session.started', data: { ...snapshot(afterWelcome), role: started.role, startedAt: input.now } },
      { type: 'step.completed', data: { ...snapshot(afterWelcome), stepId: 'welcome', nextStep: afterWelcome.currentStep } },
    ],
  };
}

export function assertStepInFlow(s: SessionRecord, stepId: string): void {
  if (!flowOfSession(s).steps.some((c) => c.id === stepId)) throw new StepNotInFlowError(stepId, s.type);
}

export type SaveDecision = { kind: 'saved'; transition: Transition; warnings: string[] } | { kind: 'invalid'; errors: FieldError[]; transition: Transition };

/**
 * Saving a step: it must belong to the flow, the session must not be completed, its dependencies
 * must be done and its data valid. A paused or abandoned session is reactivated by a save.
 * `seal` encrypts credential fields before the data is stored.
 */
export function saveStep(
  s: SessionRecord,
  stepId: string,
  data: unknown,
  now: string,
  seal: (data: Record<string, unknown>) => Record<string, unknown>,
): SaveDecision {
  assertStepInFlow(s, stepId);
  if (s.status === 'completed') throw new SessionCompletedError();
  const missing = missingDependencies(flowOfSession(s), stepId, s);
  if (missing.length > 0) throw Object.assign(new StepDependenciesMissingError(missing.join(', ')), { details: [{ missingDependencies: missing }] });

  const validation = validateFlowStepData(flowOfSession(s), stepId, data);
  if (!validation.isValid) {
    return {
      kind: 'invalid',
      errors: validation.errors,
      transition: { session: s, events: [{ type: 'step.validation_failed', data: { sessionType: s.type, stepId, errors: validation.errors } }] },
    };
  }
  const events: PendingEvent[] = [];
  let next = reactivate(s, events);
  const wasCompleted = next.completedSteps.includes(stepId);
  next = {
    ...next,
    completedSteps: wasCompleted ? next.completedSteps : [...next.completedSteps, stepId],
    skippedSteps: next.skippedSteps.filter((id) => id !== stepId),
  };
  next = settle(next, now);
  const restored = restoreMaskedSecrets(validation.data ?? {}, s.stepData[stepId]);
  if (restored.errors.length > 0) {
    return {
      kind: 'invalid',
      errors: restored.errors,
      transition: { session: s, events: [{ type: 'step.validation_failed', data: { sessionType: s.type, stepId, errors: restored.errors } }] },
    };
  }
  // Kept credentials are already sealed; seal() encrypts only the new ones.
  const sealed = seal(restored.data);
  next = { ...next, stepData: { ...next.stepData, [stepId]: sealed } };
  // The notification service honours these answers from the event (it never reads this schema); the step holds no secret.
  const answers = stepId === 'notification_preferences' ? { notificationPreferences: restored.data } : {};
  events.push({ type: wasCompleted ? 'step.updated' : 'step.completed', data: { ...snapshot(next), stepId, nextStep: next.currentStep, ...answers } });
  return { kind: 'saved', transition: { session: next, stepWrite: { stepId, value: sealed }, events }, warnings: validation.warnings };
}

/** Skipping: optional steps only, dependencies done; skipping an already skipped step changes nothing. */
export function skipStep(s: SessionRecord, stepId: string, reason: string | undefined, now: string): Transition {
  assertStepInFlow(s, stepId);
  if (s.status === 'completed') throw new SessionCompletedError();
  const step = flowOfSession(s).steps.find((c) => c.id === stepId)!;
  if (step.isRequired) throw new StepNotSkippableError(`${stepId} is required and cannot be skipped`);
  if (s.completedSteps.includes(stepId)) throw new StepNotSkippableError(`${stepId} is already completed`);
  if (s.skippedSteps.includes(stepId)) return { session: s, events: [] };
  const missing = missingDependencies(flowOfSession(s), stepId, s);
  if (missing.length > 0) throw Object.assign(new StepDependenciesMissingError(missing.join(', ')), { details: [{ missingDependencies: missing }] });
  const events: PendingEvent[] = [];
  let next = reactivate(s, events);
  const skipReasons = { ...((next.metadata.skipReasons as Record<string, string> | undefined) ?? {}), ...(reason ? { [stepId]: reason } : {}) };
  next = settle({ ...next, skippedSteps: [...next.skippedSteps, stepId], metadata: { ...next.metadata, skipReasons } }, now);
  events.push({ type: 'step.skipped', data: { ...snapshot(next), stepId, nextStep: next.currentStep, ...(reason ? { reason } : {}) } });
  return { session: next, events };
}

export function pauseSession(s: SessionRecord, now: string): Transition {
  if (s.status === 'completed') throw new SessionCompletedError();
  if (s.status === 'paused') throw new SessionAlreadyPausedError();
  const next = { ...s, status: 'paused' as const, lastActivityAt: now };
  return { session: next, events: [{ type: 'session.paused', data: snapshot(next) }] };
}

export function resumeSession(s: SessionRecord, now: string): Transition {
  if (s.status !== 'paused') throw new SessionNotPausedError();
  const next = settle({ ...s, status: 'active' }, now);
  return { session: next, events: [{ type: 'session.resumed', data: snapshot(next) }] };
}

export function completeSession(s: SessionRecord, opts: { force: boolean; now: string }): Transition {
  if (s.status === 'completed') throw new SessionCompletedError();
  const missing = missingRequiredSteps(flowOfSession(s), s);
  if (missing.length > 0 && !opts.force) throw Object.assign(new RequiredStepsMissingError(missing.join(', ')), { details: [{ missingSteps: missing }] });
  // Nothing is next once completed: the step that was current stays unfinished (visible in the step lists).
  const next: SessionRecord = { ...s, status: 'completed', currentStep: null, completedAt: opts.now, lastActivityAt: opts.now, estimatedCompletion: null };
  const summary = {
    totalTime: Math.max(0, Math.floor((Date.parse(opts.now) - Date.parse(s.startedAt)) / 60_000)),
    stepsCompleted: next.completedSteps.length,
    featuresEnabled: featuresEnabled(next.stepData),
    type: next.type,
    role: next.role,
  };
  return {
    session: next,
    events: [{ type: 'session.completed', data: { ...snapshot(next), completedAt: opts.now, forced: opts.force && missing.length > 0, summary } }],
    markTenantSetupCompleted: next.type === 'tenant_setup',
  };
}

export function abandonSession(s: SessionRecord): Transition {
  const next = { ...s, status: 'abandoned' as const };
  return { session: next, events: [{ type: 'session.abandoned', data: snapshot(next) }] };
}

export function summaryOf(s: SessionRecord) {
  return {
    totalTime: Math.max(0, Math.floor((Date.parse(s.completedAt ?? s.lastActivityAt) - Date.parse(s.startedAt)) / 60_000)),
    stepsCompleted: s.completedSteps.length,
    featuresEnabled: featuresEnabled(s.stepData),
    type: s.type,
    role: s.role,
  };
}
