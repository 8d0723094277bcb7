import { buildAuditEvent, buildEnvelope } from '@glavito/bus';
import { enqueue, type OutboxRow, toAuditOutboxRow, toOutboxRow } from '@glavito/outbox';
import type { AuditRequestContext } from '@glavito/http';
import { inTransaction, prepared, type Pool } from '@glavito/db';
import type { ConnectionTestResult } from '../domain/result.js';

export interface KnownSession {
  sessionId: string;
  tenantId: string;
  userId: string;
  status: string;
}

type RunRow = {
  id: string;
  channel: ConnectionTestResult['channel'];
  status: ConnectionTestResult['status'];
  error_code: ConnectionTestResult['errorCode'] | null;
  message: string;
  hint: string | null;
  checks: ConnectionTestResult['checks'];
  details: Record<string, unknown>;
  response_time_ms: number;
  created_at: string;
};

/** The host a test reached, from its config summary (no credential is ever in it): the first host or URL field. */
export function targetHostOf(summary: Record<string, unknown>): string | null {
  for (const [k, v] of Object.entries(summary)) {
    if (typeof v !== 'string' || !/host|url|endpoint|server/i.test(k)) continue;
    try {
      return /^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? new URL(v).hostname : v.split(':')[0]!.slice(0, 128);
    } catch {
      continue;
    }
  }
  return null;
}

function auditOfRun(session: KnownSession, run: { result: ConnectionTestResult; configSummary: Record<string, unknown> }, context: AuditRequestContext) {
  const { result } = run;
  return {
    ...context,
    tenantId: session.tenantId,
    action: 'connection.test' as const,
    target: { type: 'session', id: session.sessionId },
    outcome: result.status === 'error' ? { result: 'failed' as const, code: result.errorCode ?? 'error' } : { result: 'allowed' as const, code: result.status },
    details: { channel: result.channel, targetHost: targetHostOf(run.configSummary), status: result.status, resultId: result.id },
  };
}

const toResult = (r: RunRow): ConnectionTestResult => ({
  id: r.id,
  channel: r.channel,
  status: r.status,
  message: r.message,
  ...(r.error_code ? { errorCode: r.error_code } : {}),
  ...(r.hint ? { hint: r.hint } : {}),
  details: r.details,
  checks: r.checks,
  responseTime: r.response_time_ms,
  timestamp: r.created_at,
});

export function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(`${createdAt}|${id}`).toString('base64url');
}
export function decodeCursor(cursor: string): { createdAt: string; id: string } | null {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!createdAt || !id || Number.isNaN(Date.parse(createdAt)) || !/^[0-9a-f-]{36}$/.test(id)) return null;
  return { createdAt, id };
}

export interface TestRunRepositoryOptions {
  subjectPrefix: string;
  /** Publishes the connection.tested rows right after their commit (the outbox relay's direct path). */
  publishCommitted: (rows: OutboxRow[]) => void;
}

export function createTestRunRepository(pool: Pool, opts: TestRunRepositoryOptions) {
  return {
    async findSession(sessionId: string, scope: { tenantId: string; userId: string; isAdmin: boolean }): Promise<KnownSession | null> {
      const { rows } = await pool.query<{ session_id: string; tenant_id: string; user_id: string; status: string }>(
        'SELECT session_id, tenant_id, user_id, status FROM connection_test.known_sessions WHERE session_id = $1 AND tenant_id = $2 AND ($3::boolean OR user_id = $4)',
        [sessionId, scope.tenantId, scope.isAdmin, scope.userId],
      );
      const r = rows[0];
      return r ? { sessionId: r.session_id, tenantId: r.tenant_id, userId: r.user_id, status: r.status } : null;
    },

    /** Records a session; a newer sequence number wins, so replays and late events never move it back. */
    async rememberSession(s: KnownSession, seq: number): Promise<void> {
      await pool.query(
        prepared(
          `INSERT INTO connection_test.known_sessions (session_id, tenant_id, user_id, status, last_seq) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (session_id) DO UPDATE SET status = EXCLUDED.status, last_seq = EXCLUDED.last_seq
         WHERE connection_test.known_sessions.last_seq < EXCLUDED.last_seq`,
          [s.sessionId, s.tenantId, s.userId, s.status, seq],
        ),
      );
    },

    /** Stores runs and their connection.tested events in one transaction (history and outbox agree). */
    async record(
      session: KnownSession,
      actorUserId: string,
      correlationId: string,
      runs: Array<{ result: ConnectionTestResult; configSummary: Record<string, unknown> }>,
      audit?: { subjectPrefix: string; context: AuditRequestContext },
    ): Promise<void> {
      const committed = await inTransaction({ pool }, async (client) => {
        const seq = await client.query<{ out_seq: number }>(
          'UPDATE connection_test.known_sessions SET out_seq = out_seq + $2 WHERE session_id = $1 RETURNING out_seq',
          [session.sessionId, runs.length],
        );
        const last = seq.rows[0]!.out_seq;
        const events = runs.map((r, i) =>
          toOutboxRow(
            opts.subjectPrefix,
            buildEnvelope({
              type: 'connection.tested',
              data: { result: r.result },
              tenantId: session.tenantId,
              sessionId: session.sessionId,
              userId: session.userId,
              sessionSeq: last - runs.length + i + 1,
              correlationId,
            }),
          ),
        );
        await client.query(
          `INSERT INTO connection_test.test_runs (id, session_id, tenant_id, user_id, channel, status, error_code, message, hint, checks, details, config_summary, response_time_ms, created_at)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::jsonb[], $12::jsonb[], $13::int[], $14::timestamptz[])`,
          [
            runs.map((r) => r.result.id),
            runs.map(() => session.sessionId),
            runs.map(() => session.tenantId),
            runs.map(() => actorUserId),
            runs.map((r) => r.result.channel),
            runs.map((r) => r.result.status),
            runs.map((r) => r.result.errorCode ?? null),
            runs.map((r) => r.result.message),
            runs.map((r) => r.result.hint ?? null),
            runs.map((r) => JSON.stringify(r.result.checks)),
            runs.map((r) => JSON.stringify(r.result.details)),
            runs.map((r) => JSON.stringify(r.configSummary)),
            runs.map((r) => r.result.responseTime),
            runs.map((r) => r.result.timestamp),
          ],
        );
        // Each test's audit record (channel, target host, outcome) goes out with its event, in the same INSERT.
        if (audit) events.push(...runs.map((r) => toAuditOutboxRow(audit.subjectPrefix, buildAuditEvent(auditOfRun(session, r, audit.context)))));
        await enqueue(client, 'connection_test', events, { publishedBy: 'direct' });
        return events;
      });
      opts.publishCommitted(committed);
    },

    /** Newest first; the cursor is the (created_at, id) of the last item of the previous page. */
    async history(sessionId: string, limit: number, cursor: { createdAt: string; id: string } | null) {
      const { rows } = await pool.query<RunRow>(
        `SELECT id, channel, status, error_code, message, hint, checks, details, response_time_ms, created_at FROM connection_test.test_runs
         WHERE session_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
         ORDER BY created_at DESC, id DESC LIMIT $4`,
        [sessionId, cursor?.createdAt ?? null, cursor?.id ?? null, limit + 1],
      );
      const page = rows.slice(0, limit).map(toResult);
      const lastItem = page.at(-1);
      return { items: page, nextCursor: rows.length > limit && lastItem ? encodeCursor(lastItem.timestamp, lastItem.id) : null };
    },

    /** Adds `n` to each key's counter in the current window; returns the highest count and when the window ends. */
    async countRequests(keys: string[], n: number, windowMs: number, now: Date): Promise<{ counts: number[]; resetsAt: Date }> {
      const windowStart = new Date(Math.floor(now.getTime() / windowMs) * windowMs);
      const { rows } = await pool.query<{ key: string; count: number }>(
        `INSERT INTO connection_test.rate_limit_counters (key, window_start, count) SELECT k, $2, $3 FROM unnest($1::text[]) AS k
         ON CONFLICT (key, window_start) DO UPDATE SET count = connection_test.rate_limit_counters.count + EXCLUDED.count
         RETURNING key, count`,
        [keys, windowStart.toISOString(), n],
      );
      if (Math.random() < 0.01) await pool.query('DELETE FROM connection_test.rate_limit_counters WHERE window_start < $1', [windowStart.toISOString()]);
      const byKey = new Map(rows.map((r) => [r.key, r.count]));
      return { counts: keys.map((k) => byKey.get(k) ?? 0), resetsAt: new Date(windowStart.getTime() + windowMs) };
    },
  };
}

export type TestRunRepository = ReturnType<typeof createTestRunRepository>;
