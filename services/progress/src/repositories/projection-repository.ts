import { buildEnvelope, DIRECT_PUBLISH_RELAY_AFTER, toOutboxRow, type OutboxRow } from '@glavito/bus';
import { parseEvent, type EventEnvelope } from '@glavito/contracts';
import { prepared, type Pool, type PoolClient } from '@glavito/db';
import { applyEvent, emptyProjection, isProjected, type Emitted, type Projection, type ProjectionState, type StepTiming } from '../domain/projection.js';

export type ProcessOutcome = 'applied' | 'duplicate' | 'parked' | 'ignored';

const PROJECTION_COLUMNS = `session_id, tenant_id, user_id, type, status, completed_steps, skipped_steps, current_step,
  progress_percentage, estimated_time_remaining, estimated_completion, started_at, last_event_at, completed_at, applied_seq, out_seq`;

type ProjectionRow = {
  session_id: string; tenant_id: string; user_id: string; type: Projection['type']; status: Projection['status'];
  completed_steps: string[]; skipped_steps: string[]; current_step: string | null; progress_percentage: number;
  estimated_time_remaining: number; estimated_completion: string | null; started_at: string | null; last_event_at: string | null;
  completed_at: string | null; applied_seq: number; out_seq: number;
};

export function toProjection(r: ProjectionRow): Projection {
  return {
    sessionId: r.session_id, tenantId: r.tenant_id, userId: r.user_id, type: r.type, status: r.status,
    completedSteps: r.completed_steps, skippedSteps: r.skipped_steps, currentStep: r.current_step,
    progressPercentage: r.progress_percentage, estimatedTimeRemaining: r.estimated_time_remaining,
    estimatedCompletion: r.estimated_completion, startedAt: r.started_at, lastEventAt: r.last_event_at,
    completedAt: r.completed_at, appliedSeq: r.applied_seq, outSeq: r.out_seq,
  };
}

type TimingRow = { step_id: string; reached_at: string | null; completed_at: string | null; skipped_at: string | null };
type MilestoneRow = { threshold: number; title: string; reached_at: string };
type ParkedRow = { session_seq: number; event: unknown };

/**
 * One round trip: records the event id in the inbox and, only when it is new, creates the session's
 * projection if missing and takes its row lock (`DO UPDATE ... WHERE false` locks without writing).
 * Returns false for an event already processed.
 */
async function claimAndLock(client: PoolClient, event: EventEnvelope): Promise<boolean> {
  const seed = emptyProjection(event);
  const r = await client.query<{ claimed: boolean }>(
    prepared(
      `WITH claimed AS (
         INSERT INTO progress.inbox (event_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING event_id
       ), locked AS (
         INSERT INTO progress.projections (session_id, tenant_id, user_id, type, status)
         SELECT $2, $3, $4, $5, $6 FROM claimed
         ON CONFLICT (session_id) DO UPDATE SET status = EXCLUDED.status WHERE false
       )
       SELECT EXISTS (SELECT 1 FROM claimed) AS claimed`,
      [event.id, seed.sessionId, seed.tenantId, seed.userId, seed.type, seed.status],
    ),
  );
  return r.rows[0]!.claimed;
}

/** One round trip, after the lock (so a fresh snapshot sees everything committed before it). */
async function loadState(client: PoolClient, sessionId: string): Promise<{ state: ProjectionState; parked: ParkedRow[] }> {
  const r = await client.query<ProjectionRow & { timings: TimingRow[]; milestones: MilestoneRow[]; parked: ParkedRow[] }>(
    prepared(
      `SELECT ${PROJECTION_COLUMNS},
         (SELECT coalesce(json_agg(json_build_object('step_id', step_id, 'reached_at', reached_at, 'completed_at', completed_at, 'skipped_at', skipped_at)), '[]')
            FROM progress.step_timings WHERE session_id = $1) AS timings,
         (SELECT coalesce(json_agg(json_build_object('threshold', threshold, 'title', title, 'reached_at', reached_at) ORDER BY threshold), '[]')
            FROM progress.milestones WHERE session_id = $1) AS milestones,
         (SELECT coalesce(json_agg(json_build_object('session_seq', session_seq, 'event', event) ORDER BY session_seq), '[]')
            FROM progress.pending_events WHERE session_id = $1) AS parked
       FROM progress.projections WHERE session_id = $1`,
      [sessionId],
    ),
  );
  const row = r.rows[0]!;
  // json_build_object renders timestamps without the JSON layer's normalisation: read them back as ISO strings.
  const iso = (v: string | null) => (v === null ? null : new Date(v).toISOString());
  return {
    state: {
      projection: toProjection(row),
      timings: Object.fromEntries(
        row.timings.map((t) => [t.step_id, { stepId: t.step_id, reachedAt: iso(t.reached_at), completedAt: iso(t.completed_at), skippedAt: iso(t.skipped_at) } satisfies StepTiming]),
      ),
      milestones: row.milestones.map((m) => ({ threshold: m.threshold, title: m.title, reachedAt: iso(m.reached_at)! })),
    },
    parked: row.parked,
  };
}

export interface ProjectionRepositoryOptions {
  subjectPrefix: string;
  /** Publishes the emitted event rows right after their commit; without it the outbox relay publishes them. */
  publishCommitted?: (rows: OutboxRow[]) => void;
}

export function createProjectionRepository(pool: Pool, opts: ProjectionRepositoryOptions) {
  const relayAfter = opts.publishCommitted ? DIRECT_PUBLISH_RELAY_AFTER : 'now()';

  /**
   * Every write of one applied event (projection, timings, milestones, outbox, drained parking) in one
   * statement; returns the event rows it wrote.
   */
  async function saveState(client: PoolClient, before: ProjectionState, after: ProjectionState, emitted: Array<{ source: EventEnvelope; events: Emitted[] }>, emit: boolean, drained: number[]): Promise<OutboxRow[]> {
    const p = after.projection;
    const emittedCount = emitted.reduce((n, e) => n + e.events.length, 0);
    const params: unknown[] = [p.sessionId, p.tenantId];
    const arg = (value: unknown) => `$${params.push(value)}`;
    const parts = [
      `UPDATE progress.projections SET tenant_id = $2, user_id = ${arg(p.userId)}, type = ${arg(p.type)}, status = ${arg(p.status)},
         completed_steps = ${arg(p.completedSteps)}::text[], skipped_steps = ${arg(p.skippedSteps)}::text[], current_step = ${arg(p.currentStep)},
         progress_percentage = ${arg(p.progressPercentage)}, estimated_time_remaining = ${arg(p.estimatedTimeRemaining)},
         estimated_completion = ${arg(p.estimatedCompletion)}, started_at = ${arg(p.startedAt)}, last_event_at = ${arg(p.lastEventAt)},
         completed_at = ${arg(p.completedAt)}, applied_seq = ${arg(p.appliedSeq)}, out_seq = out_seq + ${arg(emittedCount)}
       WHERE session_id = $1`,
    ];
    const timings = Object.values(after.timings);
    if (timings.length > 0) {
      parts.push(`INSERT INTO progress.step_timings (session_id, tenant_id, step_id, reached_at, completed_at, skipped_at)
         SELECT $1, $2, * FROM unnest(${arg(timings.map((t) => t.stepId))}::text[], ${arg(timings.map((t) => t.reachedAt))}::timestamptz[],
           ${arg(timings.map((t) => t.completedAt))}::timestamptz[], ${arg(timings.map((t) => t.skippedAt))}::timestamptz[])
         ON CONFLICT (session_id, step_id) DO UPDATE SET reached_at = EXCLUDED.reached_at, completed_at = EXCLUDED.completed_at, skipped_at = EXCLUDED.skipped_at`);
    }
    const known = new Set(before.milestones.map((m) => m.threshold));
    const fresh = after.milestones.filter((m) => !known.has(m.threshold));
    if (fresh.length > 0) {
      parts.push(`INSERT INTO progress.milestones (session_id, tenant_id, threshold, title, reached_at)
         SELECT $1, $2, * FROM unnest(${arg(fresh.map((m) => m.threshold))}::int[], ${arg(fresh.map((m) => m.title))}::text[], ${arg(fresh.map((m) => m.reachedAt))}::timestamptz[])
         ON CONFLICT DO NOTHING`);
    }
    if (drained.length > 0) parts.push(`DELETE FROM progress.pending_events WHERE session_id = $1 AND session_seq = ANY(${arg(drained)}::int[])`);
    let rows: OutboxRow[] = [];
    if (emit && emittedCount > 0) {
      let seq = before.projection.outSeq;
      rows = emitted.flatMap(({ source, events }) =>
        events.map((e) =>
          toOutboxRow(
            opts.subjectPrefix,
            buildEnvelope({ type: e.type, data: e.data, tenantId: p.tenantId, sessionId: p.sessionId, userId: p.userId, sessionSeq: ++seq, correlationId: source.correlationId, occurredAt: new Date(source.occurredAt) } as never),
          ),
        ),
      );
      parts.push(`INSERT INTO progress.outbox (id, subject, payload, relay_after)
         SELECT *, ${relayAfter} FROM unnest(${arg(rows.map((r) => r.id))}::uuid[], ${arg(rows.map((r) => r.subject))}::text[], ${arg(rows.map((r) => JSON.stringify(r.payload)))}::jsonb[])`);
    }
    // Data-modifying CTEs all run, referenced or not.
    // The text is one of a few variants (which parts are present), so it can be prepared.
    await client.query(prepared(`WITH ${parts.map((sql, i) => `w${i} AS (${sql})`).join(',\n')} SELECT 1`, params));
    return rows;
  }

  return {
    /**
     * Applies one event exactly once and in its session's order: the inbox drops redeliveries, the row
     * lock serialises replicas, and an event ahead of a gap is parked until the gap fills.
     * `emit: false` (projection rebuild) applies without writing events.
     */
    async process(event: EventEnvelope, emit = true): Promise<ProcessOutcome> {
      if (!isProjected(event.type)) return 'ignored';
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        if (!(await claimAndLock(client, event))) {
          await client.query('COMMIT');
          return 'duplicate';
        }
        const { state: before, parked } = await loadState(client, event.sessionId);
        const applied = before.projection.appliedSeq;
        if (event.sessionSeq <= applied) {
          await client.query('COMMIT');
          return 'duplicate';
        }
        if (event.sessionSeq > applied + 1) {
          await client.query(
            prepared('INSERT INTO progress.pending_events (session_id, session_seq, event) VALUES ($1, $2, $3::jsonb) ON CONFLICT DO NOTHING', [
              event.sessionId,
              event.sessionSeq,
              JSON.stringify(event),
            ]),
          );
          await client.query('COMMIT');
          return 'parked';
        }
        let state = before;
        const emitted: Array<{ source: EventEnvelope; events: Emitted[] }> = [];
        const step = (e: EventEnvelope) => {
          const r = applyEvent(state, e);
          state = r.state;
          emitted.push({ source: e, events: r.emit });
        };
        step(event);
        // Parked successors that are now next in line.
        const drained: number[] = [];
        for (const row of parked) {
          if (row.session_seq <= event.sessionSeq) continue;
          if (row.session_seq !== state.projection.appliedSeq + 1) break;
          step(parseEvent(row.event));
          drained.push(row.session_seq);
        }
        const rows = await saveState(client, before, state, emitted, emit, drained);
        await client.query('COMMIT');
        opts.publishCommitted?.(rows);
        return 'applied';
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },

    async find(sessionId: string, scope: { tenantId: string; userId: string; isAdmin: boolean }) {
      const p = await pool.query<ProjectionRow>(
        `SELECT ${PROJECTION_COLUMNS} FROM progress.projections WHERE session_id = $1 AND tenant_id = $2 AND ($3::boolean OR user_id = $4) AND applied_seq > 0`,
        [sessionId, scope.tenantId, scope.isAdmin, scope.userId],
      );
      if (!p.rows[0]) return null;
      const m = await pool.query<{ threshold: number; reached_at: string }>('SELECT threshold, reached_at FROM progress.milestones WHERE session_id = $1', [sessionId]);
      return { projection: toProjection(p.rows[0]), milestones: new Map(m.rows.map((r) => [r.threshold, r.reached_at])) };
    },
  };
}

export type ProjectionRepository = ReturnType<typeof createProjectionRepository>;
