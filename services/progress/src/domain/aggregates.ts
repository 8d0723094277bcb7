import { DDSketch } from '@datadog/sketches-js';
import type { ProjectionState } from './projection.js';

/**
 * Tenant analytics as sums of what each session contributes in its current state. An applied event adds
 * `contribution(after) − contribution(before)`, so the stored sums always equal the contributions of the
 * stored projections: a duplicate (not applied) adds nothing, a rebuild starts from zero, and a count that
 * stops being true (a drop-off at a step the session then leaves) is taken back by the next event.
 *
 * Keys: tenant × flow type × flow version × UTC day × metric × bucket. The day is the session's start day,
 * except for `completions` (the day it completed) and `abandonments` (the day of its last event while abandoned).
 */

/** Built-in flows are version 1; a session of a tenant-defined flow counts under the version it pinned. */
export const FLOW_VERSION = 1;

/**
 * Duration histograms use DDSketch's logarithmic mapping: a value v lands in bucket ceil(log_γ v) with
 * γ = (1 + α) / (1 − α), and each bucket reads back as a value within α of everything in it. Buckets of
 * any days and tenants add up (the sketch is mergeable), so medians and p90 come from summed bucket counts.
 */
export const SKETCH_RELATIVE_ACCURACY = 0.01;
const mapping = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY }).mapping;
/** Durations of zero (or negative: clocks of two events out of order) are counted here and read as 0. */
export const ZERO_BUCKET = -1_000_000;

export const WEEK_MS = 7 * 24 * 60 * 60_000;

export const METRIC = {
  started: 'started',
  status: (s: string) => `status:${s}`,
  /** Sum of completed sessions' start → completion in milliseconds (for the average). */
  completedMs: 'ttc_ms',
  /** Histogram of completed sessions' start → completion in minutes. */
  timeToComplete: 'ttc',
  /** Completed sessions by whole weeks from start to completion (bucket = weeks): cohort curves. */
  weeksToComplete: 'ttc_weeks',
  completions: 'completions',
  abandonments: 'abandonments',
  milestone: 'milestone',
  reached: (step: string) => `reached:${step}`,
  stepCompleted: (step: string) => `completed:${step}`,
  skipped: (step: string) => `skipped:${step}`,
  dropped: (step: string) => `dropped:${step}`,
  /** Histogram of a step's reached → completed in minutes. */
  stepMinutes: (step: string) => `step_min:${step}`,
} as const;

export function bucketOf(minutes: number): number {
  return minutes > mapping.minPossible ? mapping.key(minutes) : ZERO_BUCKET;
}

export function bucketValue(bucket: number): number {
  return bucket === ZERO_BUCKET ? 0 : mapping.value(bucket);
}

/**
 * The q-quantile of a histogram, interpolated between the two nearest ranks like Postgres' percentile_cont.
 * Each of the two values is within α (relative) of the exact one, so their interpolation is too. Null when empty.
 */
export function quantile(buckets: Iterable<readonly [bucket: number, n: number]>, q: number): number | null {
  const sorted = [...buckets].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
  const total = sorted.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return null;
  const rank = q * (total - 1);
  const at = (r: number) => {
    let seen = 0;
    for (const [bucket, n] of sorted) {
      seen += n;
      if (seen > r) return bucketValue(bucket);
    }
    return bucketValue(sorted.at(-1)![0]);
  };
  const lo = Math.floor(rank);
  const low = at(lo);
  return rank === lo ? low : low + (at(lo + 1) - low) * (rank - lo);
}

/** The UTC day (YYYY-MM-DD) of an instant. */
export const dayOf = (instant: string | Date) => new Date(instant).toISOString().slice(0, 10);

export interface AggregateRow {
  tenantId: string;
  type: string;
  flowVersion: number;
  day: string;
  metric: string;
  bucket: number;
  n: number;
}

const SEP = '\u0000';
const keyOf = (tenantId: string, type: string, flowVersion: number, day: string, metric: string, bucket: number) =>
  [tenantId, type, flowVersion, day, metric, bucket].join(SEP);

/** Adds `sign` × what one session in `state` contributes to `into` (keyed as keyOf). */
export function addContribution(state: ProjectionState, into: Map<string, number>, sign = 1): Map<string, number> {
  const p = state.projection;
  // A row created to park an early event, or a session whose first applied event had no snapshot: not started.
  if (p.appliedSeq <= 0 || !p.startedAt) return into;
  const startDay = dayOf(p.startedAt);
  const add = (metric: string, bucket = 0, n = 1, day = startDay) => {
    if (n === 0) return;
    const key = keyOf(p.tenantId, p.type, p.flowVersion ?? FLOW_VERSION, day, metric, bucket);
    const next = (into.get(key) ?? 0) + sign * n;
    if (next === 0) into.delete(key);
    else into.set(key, next);
  };
  add(METRIC.started);
  add(METRIC.status(p.status));
  if (p.status === 'completed' && p.completedAt) {
    const ms = Math.max(0, Date.parse(p.completedAt) - Date.parse(p.startedAt));
    add(METRIC.completedMs, 0, ms);
    add(METRIC.timeToComplete, bucketOf(ms / 60_000));
    add(METRIC.weeksToComplete, Math.floor(ms / WEEK_MS));
    add(METRIC.completions, 0, 1, dayOf(p.completedAt));
  }
  if (p.status === 'abandoned') add(METRIC.abandonments, 0, 1, dayOf(p.lastEventAt ?? p.startedAt));
  // Where an unfinished session stands: undone as soon as it moves on (or completes).
  if (p.status !== 'completed' && p.currentStep) add(METRIC.dropped(p.currentStep));
  for (const t of Object.values(state.timings)) {
    if (t.reachedAt || t.completedAt || t.skippedAt) add(METRIC.reached(t.stepId));
    if (t.completedAt) add(METRIC.stepCompleted(t.stepId));
    else if (t.skippedAt) add(METRIC.skipped(t.stepId));
    if (t.completedAt && t.reachedAt) add(METRIC.stepMinutes(t.stepId), bucketOf((Date.parse(t.completedAt) - Date.parse(t.reachedAt)) / 60_000));
  }
  for (const m of state.milestones) add(METRIC.milestone, m.threshold);
  return into;
}

export function toRows(sums: Map<string, number>): AggregateRow[] {
  return [...sums].map(([key, n]) => {
    const [tenantId, type, flowVersion, day, metric, bucket] = key.split(SEP) as [string, string, string, string, string, string];
    return { tenantId, type, flowVersion: Number(flowVersion), day, metric, bucket: Number(bucket), n };
  });
}

/** What a transition changes in the analytics: after's contribution minus before's, zero entries left out. */
export function aggregateDeltas(before: ProjectionState, after: ProjectionState): AggregateRow[] {
  return toRows(addContribution(before, addContribution(after, new Map()), -1));
}
