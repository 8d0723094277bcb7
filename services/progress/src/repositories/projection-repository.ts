import { buildEnvelope, DIRECT_PUBLISH_RELAY_AFTER, toOutboxRow, type OutboxRow } from '@glavito/bus';
import { parseEvent, type EventEnvelope } from '@glavito/contracts';
import { roundTrip, type Pool, type SqlStatement } from '@glavito/db';
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
 * Records the event id in the inbox and, only when it is new, creates the session's projection if missing
 * and takes its row lock (`DO UPDATE ... WHERE false` locks without writing). `claimed` is false for an
 * event already processed.
 */
const CLAIM: SqlStatement = {
  name: 'progress_claim',
  types: ['uuid', 'text', 'text', 'text', 'text', 'text'],
  text: `WITH claimed AS (
       INSERT INTO progress.inbox (event_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING event_id
     ), locked AS (
       INSERT INTO progress.projections (session_id, tenant_id, user_id, type, status)
       SELECT $2, $3, $4, $5, $6 FROM claimed
       ON CONFLICT (session_id) DO UPDATE SET status = EXCLUDED.status WHERE false
     )
     SELECT EXISTS (SELECT 1 FROM claimed) AS claimed`,
};

/** The projection with its timings, milestones and parked events; run after CLAIM, so its snapshot follows the lock. */
const LOAD: SqlStatement = {
  name: 'progress_load',
  types: ['text'],
  text: `SELECT ${PROJECTION_COLUMNS},
       (SELECT coalesce(json_agg(json_build_object('step_id', step_id, 'reached_at', reached_at, 'completed_at', completed_at, 'skipped_at', skipped_at)), '[]')
          FROM progress.step_timings WHERE session_id = $1) AS timings,
       (SELECT coalesce(json_agg(json_build_object('threshold', threshold, 'title', title, 'reached_at', reached_at) ORDER BY threshold), '[]')
          FROM progress.milestones WHERE session_id = $1) AS milestones,
       (SELECT coalesce(json_agg(json_build_object('session_seq', session_seq, 'event', event) ORDER BY session_seq), '[]')
          FROM progress.pending_events WHERE session_id = $1) AS parked
     FROM progress.projections WHERE session_id = $1`,
};

const PARK: SqlStatement = {
  name: 'progress_park',
  types: ['text', 'int', 'jsonb'],
  text: 'INSERT INTO progress.pending_events (session_id, session_seq, event) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
};

/**
 * Every write of one applied event in one statement, from one JSON document (so one prepared plan serves
 * every shape): the projection, all step timings, new milestones, drained parked events, emitted events.
 */
function saveStatement(relayAfter: string): SqlStatement {
  return {
    name: relayAfter === DIRECT_PUBLISH_RELAY_AFTER ? 'progress_save_direct' : 'progress_save_relay',
    types: ['jsonb'],
    text: `WITH p AS (
       UPDATE progress.projections SET tenant_id = $1->>'tenantId', user_id = $1->>'userId', type = $1->>'type', status = $1->>'status',
         completed_steps = ARRAY(SELECT jsonb_array_elements_text($1->'completedSteps')), skipped_steps = ARRAY(SELECT jsonb_array_elements_text($1->'skippedSteps')),
         current_step = $1->>'currentStep', progress_percentage = ($1->>'progressPercentage')::int, estimated_time_remaining = ($1->>'estimatedTimeRemaining')::int,
         estimated_completion = ($1->>'estimatedCompletion')::timestamptz, started_at = ($1->>'startedAt')::timestamptz, last_event_at = ($1->>'lastEventAt')::timestamptz,
         completed_at = ($1->>'completedAt')::timestamptz, applied_seq = ($1->>'appliedSeq')::int, out_seq = out_seq + ($1->>'emitted')::int
       WHERE session_id = $1->>'sessionId'
     ), t AS (
       INSERT INTO progress.step_timings (session_id, tenant_id, step_id, reached_at, completed_at, skipped_at)
       SELECT $1->>'sessionId', $1->>'tenantId', x.step_id, x.reached_at, x.completed_at, x.skipped_at
         FROM jsonb_to_recordset($1->'timings') AS x(step_id text, reached_at timestamptz, completed_at timestamptz, skipped_at timestamptz)
       ON CONFLICT (session_id, step_id) DO UPDATE SET reached_at = EXCLUDED.reached_at, completed_at = EXCLUDED.completed_at, skipped_at = EXCLUDED.skipped_at
     ), m AS (
       INSERT INTO progress.milestones (session_id, tenant_id, threshold, title, reached_at)
       SELECT $1->>'sessionId', $1->>'tenantId', x.threshold, x.title, x.reached_at
         FROM jsonb_to_recordset($1->'milestones') AS x(threshold int, title text, reached_at timestamptz)
       ON CONFLICT DO NOTHING
     ), d AS (
       DELETE FROM progress.pending_events
       WHERE session_id = $1->>'sessionId' AND session_seq IN (SELECT jsonb_array_elements_text($1->'drained')::int)
     ), o AS (
       INSERT INTO progress.outbox (id, subject, payload, relay_after)
       SELECT x.id, x.subject, x.payload, ${relayAfter} FROM jsonb_to_recordset($1->'outbox') AS x(id uuid, subject text, payload jsonb)
     )
     SELECT 1`,
  };
}

function toState(row: ProjectionRow & { timings: TimingRow[]; milestones: MilestoneRow[]; parked: ParkedRow[] }): { state: ProjectionState; parked: ParkedRow[] } {
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

  const SAVE = saveStatement(relayAfter);

  /** The JSON document SAVE writes, and the event rows it inserts. */
  function saveArgs(before: ProjectionState, after: ProjectionState, emitted: Array<{ source: EventEnvelope; events: Emitted[] }>, emit: boolean, drained: number[]) {
    const p = after.projection;
    const known = new Set(before.milestones.map((m) => m.threshold));
    let seq = before.projection.outSeq;
    const rows: OutboxRow[] = emit
      ? emitted.flatMap(({ source, events }) =>
          events.map((e) =>
            toOutboxRow(
              opts.subjectPrefix,
              buildEnvelope({ type: e.type, data: e.data, tenantId: p.tenantId, sessionId: p.sessionId, userId: p.userId, sessionSeq: ++seq, correlationId: source.correlationId, occurredAt: new Date(source.occurredAt) } as never),
            ),
          ),
        )
      : [];
    const doc = {
      ...p,
      // Counted even when not written (rebuild), so out_seq stays what the live projection has.
      emitted: emitted.reduce((n, e) => n + e.events.length, 0),
      timings: Object.values(after.timings).map((t) => ({ step_id: t.stepId, reached_at: t.reachedAt, completed_at: t.completedAt, skipped_at: t.skippedAt })),
      milestones: after.milestones.filter((m) => !known.has(m.threshold)).map((m) => ({ threshold: m.threshold, title: m.title, reached_at: m.reachedAt })),
      drained,
      outbox: rows.map((r) => ({ id: r.id, subject: r.subject, payload: r.payload })),
    };
    return { json: JSON.stringify(doc), rows };
  }

  return {
    /**
     * Applies one event exactly once and in its session's order: the inbox drops redeliveries, the row
     * lock serialises replicas, and an event ahead of a gap is parked until the gap fills.
     * `emit: false` (projection rebuild) applies without writing events.
     */
    async process(event: EventEnvelope, emit = true): Promise<ProcessOutcome> {
      if (!isProjected(event.type)) return 'ignored';
      const seed = emptyProjection(event);
      const client = await pool.connect();
      let failure: Error | undefined;
      try {
        // Two round trips for an applied event: claim + lock + read, then write + commit.
        const [, claim, load] = await roundTrip(client, [
          'BEGIN',
          { statement: CLAIM, args: [event.id, seed.sessionId, seed.tenantId, seed.userId, seed.type, seed.status] },
          { statement: LOAD, args: [event.sessionId] },
        ]);
        const row = load!.rows[0] as (ProjectionRow & { timings: TimingRow[]; milestones: MilestoneRow[]; parked: ParkedRow[] }) | undefined;
        if (!(claim!.rows[0] as { claimed: boolean }).claimed || !row || event.sessionSeq <= row.applied_seq) {
          await client.query('COMMIT');
          return 'duplicate';
        }
        const { state: before, parked } = toState(row);
        const applied = before.projection.appliedSeq;
        if (event.sessionSeq > applied + 1) {
          await roundTrip(client, [{ statement: PARK, args: [event.sessionId, event.sessionSeq, JSON.stringify(event)] }, 'COMMIT']);
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
        for (const p of parked) {
          if (p.session_seq <= event.sessionSeq) continue;
          if (p.session_seq !== state.projection.appliedSeq + 1) break;
          step(parseEvent(p.event));
          drained.push(p.session_seq);
        }
        const { json, rows } = saveArgs(before, state, emitted, emit, drained);
        await roundTrip(client, [{ statement: SAVE, args: [json] }, 'COMMIT']);
        opts.publishCommitted?.(rows);
        return 'applied';
      } catch (err) {
        failure = err as Error;
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        // After a failure it is unknown which statements this connection has prepared: the pool drops it.
        client.release(failure);
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
