import {
  computeProgress,
  MILESTONES,
  stepCatalog,
  type EventData,
  type EventEnvelope,
  type OnboardingType,
  type ProgressSnapshot,
  type SessionStatus,
  type StepSource,
} from '@glavito/contracts';

export interface Projection {
  sessionId: string;
  tenantId: string;
  userId: string;
  type: OnboardingType;
  status: SessionStatus;
  completedSteps: string[];
  skippedSteps: string[];
  currentStep: string | null;
  progressPercentage: number;
  estimatedTimeRemaining: number;
  estimatedCompletion: string | null;
  startedAt: string | null;
  lastEventAt: string | null;
  completedAt: string | null;
  appliedSeq: number;
  outSeq: number;
  /** The flow version the session follows (1 = built-in), as its session events say. */
  flowVersion: number;
}

/** A flow's steps by type and version (version 1: the built-in flow); undefined when this service has not learnt it yet. */
export type FlowLookup = (type: OnboardingType, version: number) => StepSource | undefined;
const builtInOnly: FlowLookup = (type, version) => (version === 1 ? type : undefined);

export class FlowNotKnownError extends Error {
  constructor(
    readonly type: OnboardingType,
    readonly version: number,
  ) {
    super(`flow ${type} v${version} is not known yet (its flow.published has not been applied)`);
  }
}

export interface StepTiming {
  stepId: string;
  reachedAt: string | null;
  completedAt: string | null;
  skippedAt: string | null;
}

export interface ReachedMilestone {
  threshold: number;
  title: string;
  reachedAt: string;
}

export type Emitted = { type: 'progress.updated'; data: EventData<'progress.updated'> } | { type: 'milestone.reached'; data: EventData<'milestone.reached'> };

export interface ProjectionState {
  projection: Projection;
  timings: Record<string, StepTiming>;
  milestones: ReachedMilestone[];
}

/** Session and step events change the projection; everything else on the stream is ignored. */
export function isProjected(type: string): boolean {
  return type.startsWith('session.') || type.startsWith('step.');
}

export function emptyProjection(event: EventEnvelope): Projection {
  const data = event.data as { sessionType?: OnboardingType };
  return {
    sessionId: event.sessionId,
    tenantId: event.tenantId,
    userId: event.userId,
    type: data.sessionType ?? 'tenant_setup',
    status: 'active',
    completedSteps: [],
    skippedSteps: [],
    currentStep: null,
    progressPercentage: 0,
    estimatedTimeRemaining: 0,
    estimatedCompletion: null,
    startedAt: null,
    lastEventAt: null,
    completedAt: null,
    appliedSeq: 0,
    outSeq: 0,
    flowVersion: 1,
  };
}

const PACE_MIN = 0.25;
const PACE_MAX = 4;
const minutesBetween = (a: string, b: string) => (Date.parse(b) - Date.parse(a)) / 60_000;

/**
 * The user's pace: minutes actually spent per catalog minute of the steps they finished after the
 * start (welcome is completed on start, so it says nothing). 1 without observations; clamped so
 * one long coffee break does not predict next week.
 */
export function observedPace(type: StepSource, p: Pick<Projection, 'completedSteps' | 'skippedSteps' | 'startedAt'>, at: string): number {
  if (!p.startedAt) return 1;
  const catalog = typeof type === 'string' ? stepCatalog(type) : type.steps;
  const observed = catalog
    .filter((s) => s.id !== 'welcome' && (p.completedSteps.includes(s.id) || p.skippedSteps.includes(s.id)))
    .reduce((sum, s) => sum + s.estimatedTime, 0);
  if (observed === 0) return 1;
  const pace = minutesBetween(p.startedAt, at) / observed;
  return Math.min(PACE_MAX, Math.max(PACE_MIN, pace));
}

function estimatedCompletionAt(type: StepSource, p: Projection, progress: ProgressSnapshot, at: string): string | null {
  if (p.status === 'completed' || progress.estimatedTimeRemaining === 0) return null;
  const minutes = progress.estimatedTimeRemaining * observedPace(type, p, at);
  return new Date(Date.parse(at) + Math.round(minutes) * 60_000).toISOString();
}

type Snapshot = {
  sessionType: OnboardingType;
  completedSteps: string[];
  skippedSteps: string[];
  currentStep: string | null;
  status: SessionStatus;
  flowVersion?: number;
};

/**
 * Applies one session event (already known to be the next in sequence). Pure: returns the new state
 * and the events to emit (progress.updated, and milestone.reached for each threshold first reached,
 * in threshold order).
 */
export function applyEvent(state: ProjectionState, event: EventEnvelope, flowOf: FlowLookup = builtInOnly): { state: ProjectionState; emit: Emitted[] } {
  const at = event.occurredAt;
  let p: Projection = { ...state.projection, appliedSeq: event.sessionSeq, lastEventAt: at };
  const timings = { ...state.timings };
  const milestones = [...state.milestones];

  if (event.type === 'step.validation_failed' || !('completedSteps' in event.data)) {
    return { state: { projection: p, timings, milestones }, emit: [] };
  }
  const snap = event.data as Snapshot;
  const previousLastEvent = state.projection.lastEventAt ?? at;
  p = {
    ...p,
    type: snap.sessionType,
    status: snap.status,
    completedSteps: snap.completedSteps,
    skippedSteps: snap.skippedSteps,
    currentStep: snap.currentStep,
  };
  // The version the session pinned: every percentage, estimate and milestone is computed with its steps.
  p.flowVersion = snap.flowVersion ?? p.flowVersion ?? 1;
  const flow = flowOf(p.type, p.flowVersion);
  if (flow === undefined) throw new FlowNotKnownError(p.type, p.flowVersion);
  if (event.type === 'session.started') p.startedAt = (event.data as EventData<'session.started'>).startedAt;
  if (!p.startedAt) p.startedAt = at;
  if (event.type === 'session.completed') p.completedAt = (event.data as EventData<'session.completed'>).completedAt;

  const timing = (stepId: string): StepTiming => (timings[stepId] ??= { stepId, reachedAt: null, completedAt: null, skippedAt: null });
  if (event.type === 'step.completed' || event.type === 'step.skipped') {
    const stepId = (event.data as { stepId: string }).stepId;
    // A step finished without ever being the current one was worked on since the previous event.
    const t = { ...timing(stepId) };
    t.reachedAt ??= previousLastEvent;
    if (event.type === 'step.completed') t.completedAt ??= at;
    else t.skippedAt ??= at;
    timings[stepId] = t;
  }
  if (p.currentStep && !timing(p.currentStep).reachedAt) timings[p.currentStep] = { ...timing(p.currentStep), reachedAt: at };

  const progress = computeProgress(flow, p);
  p.progressPercentage = progress.progressPercentage;
  p.estimatedTimeRemaining = progress.estimatedTimeRemaining;
  p.estimatedCompletion = estimatedCompletionAt(flow, p, progress, at);

  const update: Emitted = { type: 'progress.updated', data: { progress, estimatedCompletion: p.estimatedCompletion, trigger: event.type } };
  if (event.type === 'session.completed') {
    const { completedAt, forced, summary } = event.data as EventData<'session.completed'>;
    update.data.completion = { completedAt, forced, summary };
  }
  const reachedNow: Emitted[] = [];
  const reached = new Set(milestones.map((m) => m.threshold));
  for (const m of MILESTONES) {
    if (progress.progressPercentage >= m.threshold && !reached.has(m.threshold)) {
      milestones.push({ threshold: m.threshold, title: m.title, reachedAt: at });
      reachedNow.push({ type: 'milestone.reached', data: { threshold: m.threshold, title: m.title, progress } });
    }
  }
  // The completion update is what clients see as `onboarding_completed`: it goes last, after its milestones.
  const emit = event.type === 'session.completed' ? [...reachedNow, update] : [update, ...reachedNow];
  return { state: { projection: p, timings, milestones }, emit };
}
