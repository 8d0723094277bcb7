import { buildEnvelope, claimInbox, toOutboxRow } from '@glavito/bus';
import { parseEvent, type EventEnvelope } from '@glavito/contracts';
import type { Pool, PoolClient } from '@glavito/db';
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

async function loadState(client: PoolClient, sessionId: string): Promise<ProjectionState> {
  const p = await client.query<ProjectionRow>(`SELECT ${PROJECTION_COLUMNS} FROM progress.projections WHERE session_id = $1 FOR UPDATE`, [sessionId]);
  const t = await client.query<{ step_id: string; reached_at: string | null; completed_at: string | null; skipped_at: string | null }>(
    'SELECT step_id, reached_at, completed_at, skipped_at FROM progress.step_timings WHERE session_id = $1',
    [sessionId],
  );
  const m = await client.query<{ threshold: number; title: string; reached_at: string }>(
    'SELECT threshold, title, reached_at FROM progress.milestones WHERE session_id = $1 ORDER BY threshold',
    [sessionId],
  );
  return {
    projection: toProjection(p.rows[0]!),
    timings: Object.fromEntries(t.rows.map((r) => [r.step_id, { stepId: r.step_id, reachedAt: r.reached_at, completedAt: r.completed_at, skippedAt: r.skipped_at } satisfies StepTiming])),
    milestones: m.rows.map((r) => ({ threshold: r.threshold, title: r.title, reachedAt: r.reached_at })),
  };
}

export function createProjectionRepository(pool: Pool, opts: { subjectPrefix: string }) {
  async function saveState(client: PoolClient, before: ProjectionState, after: ProjectionState, emitted: Array<{ source: EventEnvelope; events: Emitted[] }>, emit: boolean) {
    const p = after.projection;
    const emittedCount = emitted.reduce((n, e) => n + e.events.length, 0);
    await client.query(
      `UPDATE progress.projections SET tenant_id = $2, user_id = $3, type = $4, status = $5, completed_steps = $6::text[], skipped_steps = $7::text[],
         current_step = $8, progress_percentage = $9, estimated_time_remaining = $10, estimated_completion = $11, started_at = $12,
         last_event_at = $13, completed_at = $14, applied_seq = $15, out_seq = out_seq + $16
       WHERE session_id = $1`,
      [p.sessionId, p.tenantId, p.userId, p.type, p.status, p.completedSteps, p.skippedSteps, p.currentStep, p.progressPercentage,
        p.estimatedTimeRemaining, p.estimatedCompletion, p.startedAt, p.lastEventAt, p.completedAt, p.appliedSeq, emittedCount],
    );
    const timings = Object.values(after.timings);
    if (timings.length > 0) {
      await client.query(
        `INSERT INTO progress.step_timings (session_id, tenant_id, step_id, reached_at, completed_at, skipped_at)
         SELECT $1, $2, * FROM unnest($3::text[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[])
         ON CONFLICT (session_id, step_id) DO UPDATE SET reached_at = EXCLUDED.reached_at, completed_at = EXCLUDED.completed_at, skipped_at = EXCLUDED.skipped_at`,
        [p.sessionId, p.tenantId, timings.map((t) => t.stepId), timings.map((t) => t.reachedAt), timings.map((t) => t.completedAt), timings.map((t) => t.skippedAt)],
      );
    }
    const known = new Set(before.milestones.map((m) => m.threshold));
    const fresh = after.milestones.filter((m) => !known.has(m.threshold));
    if (fresh.length > 0) {
      await client.query(
        `INSERT INTO progress.milestones (session_id, tenant_id, threshold, title, reached_at)
         SELECT $1, $2, * FROM unnest($3::int[], $4::text[], $5::timestamptz[]) ON CONFLICT DO NOTHING`,
        [p.sessionId, p.tenantId, fresh.map((m) => m.threshold), fresh.map((m) => m.title), fresh.map((m) => m.reachedAt)],
      );
    }
    if (!emit || emittedCount === 0) return;
    let seq = before.projection.outSeq;
    const rows = emitted.flatMap(({ source, events }) =>
      events.map((e) =>
        toOutboxRow(
          opts.subjectPrefix,
          buildEnvelope({ type: e.type, data: e.data, tenantId: p.tenantId, sessionId: p.sessionId, userId: p.userId, sessionSeq: ++seq, correlationId: source.correlationId, occurredAt: new Date(source.occurredAt) } as never),
        ),
      ),
    );
    await client.query(
      'INSERT INTO progress.outbox (id, subject, payload) SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[])',
      [rows.map((r) => r.id), rows.map((r) => r.subject), rows.map((r) => JSON.stringify(r.payload))],
    );
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
        if (!(await claimInbox(client, 'progress', event.id))) {
          await client.query('COMMIT');
          return 'duplicate';
        }
        const seed = emptyProjection(event);
        await client.query(
          `INSERT INTO progress.projections (session_id, tenant_id, user_id, type, status) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
          [seed.sessionId, seed.tenantId, seed.userId, seed.type, seed.status],
        );
        const before = await loadState(client, event.sessionId);
        const applied = before.projection.appliedSeq;
        if (event.sessionSeq <= applied) {
          await client.query('COMMIT');
          return 'duplicate';
        }
        if (event.sessionSeq > applied + 1) {
          await client.query(
            'INSERT INTO progress.pending_events (session_id, session_seq, event) VALUES ($1, $2, $3::jsonb) ON CONFLICT DO NOTHING',
            [event.sessionId, event.sessionSeq, JSON.stringify(event)],
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
        const parked = await client.query<{ session_seq: number; event: unknown }>(
          'SELECT session_seq, event FROM progress.pending_events WHERE session_id = $1 AND session_seq > $2 ORDER BY session_seq',
          [event.sessionId, event.sessionSeq],
        );
        const drained: number[] = [];
        for (const row of parked.rows) {
          if (row.session_seq !== state.projection.appliedSeq + 1) break;
          step(parseEvent(row.event));
          drained.push(row.session_seq);
        }
        if (drained.length > 0) {
          await client.query('DELETE FROM progress.pending_events WHERE session_id = $1 AND session_seq = ANY($2::int[])', [event.sessionId, drained]);
        }
        await saveState(client, before, state, emitted, emit);
        await client.query('COMMIT');
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
