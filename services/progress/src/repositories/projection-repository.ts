import { buildEnvelope, RetryLaterError } from '@glavito/bus';
import { outboxArrays, outboxInsertSql, type OutboxRow, type PublishedBy, toOutboxRow } from '@glavito/outbox';
import { readEvent, type EventEnvelope, type RawEventEnvelope } from '@glavito/contracts';
import { prepared, recentWrites, type Pool } from '@glavito/db';
import { aggregateDeltas } from '../domain/aggregates.js';
import {
  applyEvent,
  emptyProjection,
  FlowNotKnownError,
  isProjected,
  type Emitted,
  type FlowLookup,
  type Projection,
  type ProjectionState,
  type StepTiming,
} from '../domain/projection.js';
import type { FlowRepository } from './flow-repository.js';

export type ProcessOutcome = 'applied' | 'duplicate' | 'parked' | 'ignored';

const PROJECTION_COLUMNS = `session_id, tenant_id, user_id, type, status, completed_steps, skipped_steps, current_step,
  progress_percentage, estimated_time_remaining, estimated_completion, started_at, last_event_at, completed_at, applied_seq, out_seq, flow_version`;

type ProjectionRow = {
  session_id: string;
  tenant_id: string;
  user_id: string;
  type: Projection['type'];
  status: Projection['status'];
  completed_steps: string[];
  skipped_steps: string[];
  current_step: string | null;
  progress_percentage: number;
  estimated_time_remaining: number;
  estimated_completion: string | null;
  started_at: string | null;
  last_event_at: string | null;
  completed_at: string | null;
  applied_seq: number;
  out_seq: number;
  flow_version: number;
};

export function toProjection(r: ProjectionRow): Projection {
  return {
    sessionId: r.session_id,
    tenantId: r.tenant_id,
    userId: r.user_id,
    type: r.type,
    status: r.status,
    completedSteps: r.completed_steps,
    skippedSteps: r.skipped_steps,
    currentStep: r.current_step,
    progressPercentage: r.progress_percentage,
    estimatedTimeRemaining: r.estimated_time_remaining,
    estimatedCompletion: r.estimated_completion,
    startedAt: r.started_at,
    lastEventAt: r.last_event_at,
    completedAt: r.completed_at,
    appliedSeq: r.applied_seq,
    outSeq: r.out_seq,
    flowVersion: r.flow_version ?? 1,
  };
}

type TimingRow = { step_id: string; reached_at: string | null; completed_at: string | null; skipped_at: string | null };
type MilestoneRow = { threshold: number; title: string; reached_at: string };
type ParkedRow = { session_seq: number; event: unknown };

/** A session's projection as last read or written here: what the next event starts from. */
interface Known {
  state: ProjectionState;
  /** Events waiting for an earlier one, in sequence order. */
  parked: ParkedRow[];
  /** False when the session has no row yet (its first event creates it). */
  exists: boolean;
  /** The row's `version` (a bigint, kept as text): the next write changes the row only if it still holds. */
  version: string;
}

/**
 * An event of a session's sequence that this build cannot read (a newer session service's type or version):
 * applied as a step that changes nothing but the applied sequence, so the session's later events are not held
 * behind it. Its data is not looked at.
 */
export function opaqueEvent(env: RawEventEnvelope): EventEnvelope {
  return { ...env, data: {} } as unknown as EventEnvelope;
}

/** A stored (parked) event, read like a delivered one: upcast when known, opaque when not. */
function readStored(raw: unknown): EventEnvelope {
  const r = readEvent(raw);
  return r.known ? r.event : opaqueEvent(r.envelope);
}

/** Writes that lost a race are retried on a fresh read; each loss means another writer made progress. */
const MAX_ATTEMPTS = 20;

/** One statement, no lock: the session's projection, step timings, milestones and parked events. */
async function load(pool: Pool, event: EventEnvelope): Promise<Known> {
  const r = await pool.query<ProjectionRow & { version: string; timings: TimingRow[]; milestones: MilestoneRow[]; parked: ParkedRow[] }>(
    prepared(
      `SELECT ${PROJECTION_COLUMNS}, version,
         (SELECT coalesce(json_agg(json_build_object('step_id', step_id, 'reached_at', reached_at, 'completed_at', completed_at, 'skipped_at', skipped_at)), '[]')
            FROM progress.step_timings WHERE session_id = $1) AS timings,
         (SELECT coalesce(json_agg(json_build_object('threshold', threshold, 'title', title, 'reached_at', reached_at) ORDER BY threshold), '[]')
            FROM progress.milestones WHERE session_id = $1) AS milestones,
         (SELECT coalesce(json_agg(json_build_object('session_seq', session_seq, 'event', event) ORDER BY session_seq), '[]')
            FROM progress.pending_events WHERE session_id = $1) AS parked
       FROM progress.projections WHERE session_id = $1`,
      [event.sessionId],
    ),
  );
  const row = r.rows[0];
  if (!row) return { state: { projection: emptyProjection(event), timings: {}, milestones: [] }, parked: [], exists: false, version: '0' };
  // json_build_object renders timestamps without the JSON layer's normalisation: read them back as ISO strings.
  const iso = (v: string | null) => (v === null ? null : new Date(v).toISOString());
  return {
    state: {
      projection: toProjection(row),
      timings: Object.fromEntries(
        row.timings.map((t) => [
          t.step_id,
          { stepId: t.step_id, reachedAt: iso(t.reached_at), completedAt: iso(t.completed_at), skippedAt: iso(t.skipped_at) } satisfies StepTiming,
        ]),
      ),
      milestones: row.milestones.map((m) => ({ threshold: m.threshold, title: m.title, reachedAt: iso(m.reached_at)! })),
    },
    parked: row.parked,
    exists: true,
    version: row.version,
  };
}

const sameTiming = (a: StepTiming | undefined, b: StepTiming) =>
  a !== undefined && a.reachedAt === b.reachedAt && a.completedAt === b.completedAt && a.skippedAt === b.skippedAt;

/**
 * Builds one statement that writes the projection row only if it is still at `known.version` (or, for a
 * session without a row, creates it unless someone else just did), and everything else only if that row
 * write happened: `p` returns the new version or nothing. `parts` are data-modifying CTEs over `p`.
 */
function guardedWrite(known: Known, projection: Projection, parts: (arg: (value: unknown) => string) => string[]) {
  const params: unknown[] = [projection.sessionId];
  const arg = (value: unknown) => `$${params.push(value)}`;
  const values = [
    arg(projection.tenantId),
    arg(projection.userId),
    arg(projection.type),
    arg(projection.status),
    `${arg(projection.completedSteps)}::text[]`,
    `${arg(projection.skippedSteps)}::text[]`,
    arg(projection.currentStep),
    arg(projection.progressPercentage),
    arg(projection.estimatedTimeRemaining),
    `${arg(projection.estimatedCompletion)}::timestamptz`,
    `${arg(projection.startedAt)}::timestamptz`,
    `${arg(projection.lastEventAt)}::timestamptz`,
    `${arg(projection.completedAt)}::timestamptz`,
    arg(projection.appliedSeq),
    arg(projection.outSeq),
    arg(projection.flowVersion),
  ];
  const version = "nextval('progress.projection_versions')";
  const row = known.exists
    ? `UPDATE progress.projections SET (${PROJECTION_COLUMNS}, version) = ($1, ${values.join(', ')}, ${version})
       WHERE session_id = $1 AND version = ${arg(known.version)}::bigint RETURNING version`
    : `INSERT INTO progress.projections (${PROJECTION_COLUMNS}, version) VALUES ($1, ${values.join(', ')}, ${version})
       ON CONFLICT (session_id) DO NOTHING RETURNING version`;
  const ctes = [`p AS (${row})`, ...parts(arg).map((sql, i) => `w${i} AS (${sql})`)];
  // Data-modifying CTEs all run, referenced or not. The text is one of a few variants (which parts are
  // present), so it can be prepared.
  return prepared(`WITH ${ctes.join(',\n')} SELECT version FROM p`, params);
}

export interface ProjectionRepositoryOptions {
  subjectPrefix: string;
  /** Publishes the emitted event rows right after their commit; without it the outbox relay publishes them. */
  publishCommitted?: (rows: OutboxRow[]) => void;
  /** Sessions whose projection this process wrote last, kept to skip the read before the next write (0 turns it off). */
  cacheSize?: number;
  /** False only to measure what the analytics cost (bench): statistics are then wrong. */
  aggregates?: boolean;
  /** Tenants' flow versions (from flow.published); without it only the built-in flows are known. */
  flows?: FlowRepository;
}

export function createProjectionRepository(pool: Pool, opts: ProjectionRepositoryOptions) {
  const publishedBy: PublishedBy = opts.publishCommitted ? 'direct' : 'relay';
  const recent = recentWrites<Known>(opts.cacheSize ?? 10_000);
  const flowOf =
    (tenantId: string): FlowLookup =>
    (type, version) =>
      version === 1 ? type : opts.flows?.cached(tenantId, type, version);

  /** The flow version an event (and its parked successors) is computed with is in memory before the synchronous apply. */
  async function loadFlow(known: Known, event: EventEnvelope): Promise<void> {
    const data = event.data as { sessionType?: Projection['type']; flowVersion?: number };
    const version = data.flowVersion ?? known.state.projection.flowVersion ?? 1;
    const type = data.sessionType ?? known.state.projection.type;
    if (version === 1 || !opts.flows) return;
    // flow.published comes through another durable: until it is applied here, the session's events wait (retried).
    if (!(await opts.flows.load(event.tenantId, type, version))) throw new FlowNotKnownError(type, version);
  }

  /** Parks an event that arrived ahead of a gap (and records it in the inbox); null when the session changed since `known`. */
  async function park(known: Known, event: EventEnvelope): Promise<Known | null> {
    const r = await pool.query<{ version: string }>(
      guardedWrite(known, known.state.projection, (arg) => [
        `INSERT INTO progress.pending_events (session_id, session_seq, event) SELECT $1, ${arg(event.sessionSeq)}, ${arg(JSON.stringify(event))}::jsonb FROM p ON CONFLICT DO NOTHING`,
        `INSERT INTO progress.inbox (event_id) SELECT ${arg(event.id)}::uuid FROM p ON CONFLICT DO NOTHING`,
      ]),
    );
    if (!r.rows[0]) return null;
    const parked = [...known.parked, { session_seq: event.sessionSeq, event }].sort((a, b) => a.session_seq - b.session_seq);
    return { ...known, parked, exists: true, version: r.rows[0].version };
  }

  /**
   * Applies the next event and every parked successor it unblocks, in one statement (projection, changed
   * step timings, new milestones, inbox, drained parking, outbox). Null when the session changed since `known`.
   */
  async function apply(known: Known, event: EventEnvelope, emit: boolean): Promise<{ known: Known; rows: OutboxRow[] } | null> {
    const before = known.state;
    let state = before;
    const applied: EventEnvelope[] = [];
    const emitted: Array<{ source: EventEnvelope; events: Emitted[] }> = [];
    const step = (e: EventEnvelope) => {
      const r = applyEvent(state, e, flowOf(state.projection.tenantId));
      state = r.state;
      applied.push(e);
      emitted.push({ source: e, events: r.emit });
    };
    step(event);
    for (const row of known.parked) {
      if (row.session_seq <= state.projection.appliedSeq) continue;
      if (row.session_seq !== state.projection.appliedSeq + 1) break;
      step(readStored(row.event));
    }
    // Parked copies of events now applied (the successors above, or an event parked and later redelivered in turn).
    const obsolete = known.parked.filter((row) => row.session_seq <= state.projection.appliedSeq).map((row) => row.session_seq);
    const emittedCount = emitted.reduce((n, e) => n + e.events.length, 0);
    let seq = before.projection.outSeq;
    const rows = emit
      ? emitted.flatMap(({ source, events }) =>
          events.map((e) =>
            toOutboxRow(
              opts.subjectPrefix,
              buildEnvelope({
                type: e.type,
                data: e.data,
                tenantId: state.projection.tenantId,
                sessionId: state.projection.sessionId,
                userId: state.projection.userId,
                sessionSeq: ++seq,
                correlationId: source.correlationId,
                occurredAt: new Date(source.occurredAt),
              } as never),
            ),
          ),
        )
      : [];
    const after: ProjectionState = { ...state, projection: { ...state.projection, outSeq: before.projection.outSeq + emittedCount } };
    const changedTimings = Object.values(after.timings).filter((t) => !sameTiming(before.timings[t.stepId], t));
    const reached = new Set(before.milestones.map((m) => m.threshold));
    const freshMilestones = after.milestones.filter((m) => !reached.has(m.threshold));
    const deltas = opts.aggregates === false ? [] : aggregateDeltas(before, after);

    const r = await pool.query<{ version: string }>(
      guardedWrite(known, after.projection, (arg) => {
        const parts = [`INSERT INTO progress.inbox (event_id) SELECT id FROM p, unnest(${arg(applied.map((e) => e.id))}::uuid[]) AS id ON CONFLICT DO NOTHING`];
        if (changedTimings.length > 0) {
          parts.push(`INSERT INTO progress.step_timings (session_id, tenant_id, step_id, reached_at, completed_at, skipped_at)
             SELECT $1, ${arg(after.projection.tenantId)}, t.* FROM p, unnest(${arg(changedTimings.map((t) => t.stepId))}::text[], ${arg(changedTimings.map((t) => t.reachedAt))}::timestamptz[],
               ${arg(changedTimings.map((t) => t.completedAt))}::timestamptz[], ${arg(changedTimings.map((t) => t.skippedAt))}::timestamptz[]) AS t
             ON CONFLICT (session_id, step_id) DO UPDATE SET reached_at = EXCLUDED.reached_at, completed_at = EXCLUDED.completed_at, skipped_at = EXCLUDED.skipped_at`);
        }
        if (freshMilestones.length > 0) {
          parts.push(`INSERT INTO progress.milestones (session_id, tenant_id, threshold, title, reached_at)
             SELECT $1, ${arg(after.projection.tenantId)}, m.* FROM p, unnest(${arg(freshMilestones.map((m) => m.threshold))}::int[], ${arg(freshMilestones.map((m) => m.title))}::text[], ${arg(freshMilestones.map((m) => m.reachedAt))}::timestamptz[]) AS m
             ON CONFLICT DO NOTHING`);
        }
        if (deltas.length > 0) {
          // The analytics move with the projection, in this statement: only if the version-checked write happened.
          // One row for all of this write's entries (parallel arrays): a tuple per event, not per entry.
          parts.push(`INSERT INTO progress.stat_delta_sets (tenant_id, types, flow_versions, days, metrics, buckets, ns)
             SELECT ${arg(after.projection.tenantId)}, ${arg(deltas.map((d) => d.type))}::text[], ${arg(deltas.map((d) => d.flowVersion))}::int[],
               ${arg(deltas.map((d) => d.day))}::date[], ${arg(deltas.map((d) => d.metric))}::text[], ${arg(deltas.map((d) => d.bucket))}::int[], ${arg(deltas.map((d) => d.n))}::bigint[] FROM p`);
        }
        if (obsolete.length > 0)
          parts.push(`DELETE FROM progress.pending_events WHERE session_id = $1 AND session_seq = ANY(${arg(obsolete)}::int[]) AND EXISTS (SELECT 1 FROM p)`);
        if (rows.length > 0) {
          const [ids, subjects, payloads] = outboxArrays(rows);
          parts.push(outboxInsertSql('progress', [arg(ids), arg(subjects), arg(payloads)], { publishedBy, after: 'p' }));
        }
        return parts;
      }),
    );
    if (!r.rows[0]) return null;
    const parked = known.parked.filter((row) => row.session_seq > after.projection.appliedSeq);
    return { known: { state: after, parked, exists: true, version: r.rows[0].version }, rows };
  }

  return {
    /**
     * Applies one event exactly once and in its session's order, in one statement that checks the row's
     * version: an event at or below the applied sequence is a duplicate (redelivery), one ahead of a gap is
     * parked until the gap fills, and a write that finds the row changed (another replica or worker wrote
     * it) is retried on a fresh read. The state this process wrote last is remembered, so the usual event
     * costs one round trip. `emit: false` (projection rebuild) applies without writing events.
     */
    async process(event: EventEnvelope, emit = true): Promise<ProcessOutcome> {
      if (!isProjected(event.type)) return 'ignored';
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const remembered = recent.get(event.sessionId);
        const known = remembered ?? (await load(pool, event));
        const applied = known.state.projection.appliedSeq;
        const alreadyParked = known.parked.some((row) => row.session_seq === event.sessionSeq);
        if (event.sessionSeq <= applied || alreadyParked) {
          // A duplicate (a redelivery) is dropped only on a fresh read: the remembered state is only a
          // starting point for writes, and rows deleted under it (a rebuild) would make it look ahead.
          if (!remembered) return 'duplicate';
        } else if (event.sessionSeq > applied + 1) {
          const parked = await park(known, event);
          if (parked) {
            recent.set(event.sessionId, parked);
            return 'parked';
          }
        } else {
          await loadFlow(known, event);
          const result = await apply(known, event, emit);
          if (result) {
            recent.set(event.sessionId, result.known);
            opts.publishCommitted?.(result.rows);
            return 'applied';
          }
        }
        recent.delete(event.sessionId);
      }
      throw new RetryLaterError(`session ${event.sessionId} changed under ${MAX_ATTEMPTS} writes in a row`, 200);
    },

    /**
     * The session's projection as `scope` may see it: `hidden` when it exists but belongs to another tenant or (for an
     * agent) another user, `null` when no event of the session has been applied here yet.
     */
    async find(sessionId: string, scope: { tenantId: string; userId: string; isAdmin: boolean }) {
      const p = await pool.query<ProjectionRow>(`SELECT ${PROJECTION_COLUMNS} FROM progress.projections WHERE session_id = $1 AND applied_seq > 0`, [
        sessionId,
      ]);
      const row = p.rows[0];
      if (!row) return null;
      if (row.tenant_id !== scope.tenantId || (!scope.isAdmin && row.user_id !== scope.userId)) return 'hidden' as const;
      const m = await pool.query<{ threshold: number; reached_at: string }>('SELECT threshold, reached_at FROM progress.milestones WHERE session_id = $1', [
        sessionId,
      ]);
      return { projection: toProjection(row), milestones: new Map(m.rows.map((r) => [r.threshold, r.reached_at])) };
    },
  };
}

export type ProjectionRepository = ReturnType<typeof createProjectionRepository>;
