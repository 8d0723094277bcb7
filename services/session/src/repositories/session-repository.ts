import { buildAuditEvent, buildEnvelope } from '@glavito/bus';
import { enqueue, outboxArrays, outboxInsertSql, type OutboxRow, toAuditOutboxRow, toOutboxRow } from '@glavito/outbox';
import { TENANT_SCOPE_ID } from '@glavito/contracts';
import type { Principal } from '@glavito/contracts';
import { inTransaction, prepared, recentWrites, type Pool, type PoolClient } from '@glavito/db';
import { ConcurrentUpdateError, SessionNotFoundError } from '../errors.js';
import { auditOfTransition, SYSTEM_ORIGIN, type AuditOrigin } from '../domain/audit.js';
import { auditContextOf } from '@glavito/http';
import type { SessionRecord, Transition } from '../domain/session-rules.js';
import type { ResolvedFlow } from '@glavito/contracts';

const COLUMNS = `id, tenant_id, user_id, type, role, status, current_step, completed_steps, skipped_steps, step_data, metadata,
  version, event_seq, started_at, last_activity_at, completed_at, estimated_completion, signals, flow_version`;

type Row = {
  id: string;
  tenant_id: string;
  user_id: string;
  type: SessionRecord['type'];
  role: SessionRecord['role'];
  status: SessionRecord['status'];
  current_step: string | null;
  completed_steps: string[];
  skipped_steps: string[];
  step_data: SessionRecord['stepData'];
  metadata: Record<string, unknown>;
  version: number;
  event_seq: number;
  started_at: string;
  last_activity_at: string;
  completed_at: string | null;
  estimated_completion: string | null;
  signals: SessionRecord['signals'];
  flow_version: number;
};

function toRecord(r: Row): SessionRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    userId: r.user_id,
    type: r.type,
    role: r.role,
    status: r.status,
    currentStep: r.current_step,
    completedSteps: r.completed_steps,
    skippedSteps: r.skipped_steps,
    stepData: r.step_data,
    metadata: r.metadata,
    version: r.version,
    eventSeq: r.event_seq,
    startedAt: r.started_at,
    lastActivityAt: r.last_activity_at,
    completedAt: r.completed_at,
    estimatedCompletion: r.estimated_completion,
    signals: r.signals ?? {},
    flowVersion: r.flow_version,
  };
}

/** Who may see a session: its owner, or an admin of the same tenant. Anything else reads as absent. */
export interface Scope {
  tenantId: string;
  userId: string;
  isAdmin: boolean;
  /** Who asks and from where: the audit records of the change carry it (jobs: system). */
  origin?: AuditOrigin;
}
export const scopeOf = (p: Principal, request?: Parameters<typeof auditContextOf>[0]): Scope => ({
  tenantId: p.tenantId,
  userId: p.userId,
  isAdmin: p.isAdmin,
  ...(request ? { origin: auditContextOf(request, p) } : {}),
});

type Queryable = Pool | PoolClient;

export interface SessionRepositoryOptions {
  subjectPrefix: string;
  /** Publishes a transaction's event rows right after its commit (the outbox relay's direct path). */
  publishCommitted: (rows: OutboxRow[]) => void;
  /** Sessions this process last wrote, kept to skip the read before the next write (0 turns it off). */
  cacheSize?: number;
  /** Subject prefix of audit events (their own stream); they go into the outbox with the change they record. */
  auditSubjectPrefix?: string;
  /** The flow version a session pinned (published versions never change, so this is a cache hit once read). */
  flowOf?: (tenantId: string, type: SessionRecord['type'], version: number) => Promise<ResolvedFlow | null>;
}

const canSee = (s: SessionRecord, scope: Scope) => s.tenantId === scope.tenantId && (scope.isAdmin || s.userId === scope.userId);

export function createSessionRepository(pool: Pool, opts: SessionRepositoryOptions) {
  const recent = recentWrites<SessionRecord>(opts.cacheSize ?? 10_000);

  /** A record read from its row, with the steps of the flow version it pinned. */
  async function withFlow(s: SessionRecord): Promise<SessionRecord> {
    if (s.flowVersion === 1 || !opts.flowOf) return s;
    const flow = await opts.flowOf(s.tenantId, s.type, s.flowVersion);
    if (!flow) throw new Error(`session ${s.id}: flow ${s.type} v${s.flowVersion} of its tenant is missing`);
    return { ...s, flow };
  }

  function outboxRows(before: SessionRecord, t: Transition, correlationId: string) {
    return t.events.map((e, i) =>
      toOutboxRow(
        opts.subjectPrefix,
        buildEnvelope({
          type: e.type,
          data: e.data,
          tenantId: before.tenantId,
          sessionId: before.id,
          userId: before.userId,
          sessionSeq: before.eventSeq + i + 1,
          correlationId,
        } as never),
      ),
    );
  }

  /** The transition's audit records as outbox rows: inserted by the same statement as the change. */
  function auditRows(before: SessionRecord, t: Transition, origin: AuditOrigin | undefined): OutboxRow[] {
    const prefix = opts.auditSubjectPrefix;
    if (!prefix) return [];
    return auditOfTransition(before, t, origin ?? SYSTEM_ORIGIN).map((a) => toAuditOutboxRow(prefix, buildAuditEvent(a)));
  }

  async function load(db: Queryable, id: string, scope: Scope, lock = false): Promise<SessionRecord | null> {
    const { rows } = await db.query<Row>(
      prepared(`SELECT ${COLUMNS} FROM session.sessions WHERE id = $1 AND tenant_id = $2 AND ($3::boolean OR user_id = $4)${lock ? ' FOR UPDATE' : ''}`, [
        id,
        scope.tenantId,
        scope.isAdmin,
        scope.userId,
      ]),
    );
    return rows[0] ? withFlow(toRecord(rows[0])) : null;
  }

  /**
   * One statement: version-checked update, its outbox rows and (on tenant completion) the tenant flag.
   * Returns null when the version moved on (another save won); nothing is written then. Else the event
   * rows, to publish once the statement's transaction has committed.
   */
  async function write(db: Queryable, before: SessionRecord, t: Transition, correlationId: string, origin?: AuditOrigin): Promise<OutboxRow[] | null> {
    const s = t.session;
    const rows = [...outboxRows(before, t, correlationId), ...auditRows(before, t, origin)];
    const r = await db.query(
      prepared(
        `WITH upd AS (
           UPDATE session.sessions SET status = $3, current_step = $4, completed_steps = $5::text[], skipped_steps = $6::text[],
             step_data = CASE WHEN $7::text IS NULL THEN step_data ELSE jsonb_set(step_data, ARRAY[$7::text], $8::jsonb, true) END,
             metadata = $9::jsonb, version = version + 1, event_seq = event_seq + $10::int,
             last_activity_at = $11, completed_at = $12, estimated_completion = $13,
             signals = CASE WHEN $20::jsonb IS NULL THEN signals ELSE $20::jsonb END
           WHERE id = $1 AND version = $2
           RETURNING id
         ), ob AS (
           ${outboxInsertSql('session', ['$14', '$15', '$16'], { publishedBy: 'direct', after: 'upd' })}
         ), ten AS (
           INSERT INTO session.tenant_onboarding (tenant_id, setup_completed_at, setup_completed_by)
           SELECT $17, $11, $18 FROM upd WHERE $19::boolean
           ON CONFLICT (tenant_id) DO NOTHING
         )
         SELECT id FROM upd`,
        [
          before.id,
          before.version,
          s.status,
          s.currentStep,
          s.completedSteps,
          s.skippedSteps,
          t.stepWrite?.stepId ?? null,
          t.stepWrite ? JSON.stringify(t.stepWrite.value) : null,
          JSON.stringify(s.metadata),
          t.events.length,
          s.lastActivityAt,
          s.completedAt,
          s.estimatedCompletion,
          ...outboxArrays(rows),
          before.tenantId,
          s.userId,
          t.markTenantSetupCompleted === true,
          t.signalsChanged ? JSON.stringify(s.signals) : null,
        ],
      ),
    );
    return r.rowCount === 1 ? rows : null;
  }

  /** The domain keeps version/eventSeq as read; the write bumped both. */
  const afterWrite = (t: Transition): SessionRecord => ({
    ...t.session,
    version: t.session.version + 1,
    eventSeq: t.session.eventSeq + t.events.length,
  });

  const changes = (t: Transition) => t.events.length > 0 || Boolean(t.stepWrite) || t.signalsChanged === true;

  /** After a write's commit: its events go out and the new state is remembered. */
  function committed(before: SessionRecord, t: Transition, rows: OutboxRow[]) {
    opts.publishCommitted(rows);
    const after = afterWrite(t);
    recent.set(after.id, after);
    return { before, after, transition: t };
  }

  return {
    load: (id: string, scope: Scope) => load(pool, id, scope),

    /**
     * Applies a pure decision to the current state. Two optimistic tries (read, then one
     * version-checked statement); under contention it falls back to a row lock, so concurrent
     * saves are serialised and none is lost.
     */
    async mutate(
      id: string,
      scope: Scope,
      correlationId: string,
      decide: (s: SessionRecord) => Transition,
    ): Promise<{ before: SessionRecord; after: SessionRecord; transition: Transition }> {
      // A save right after this process's last write of the session needs no read: the remembered state is
      // trusted only for a write, which its version check confirms. A refusal or a no-op decided on it is
      // decided again on a fresh read (another replica may have moved the session on).
      const remembered = recent.get(id);
      if (remembered && canSee(remembered, scope)) {
        let t: Transition | null;
        try {
          t = decide(remembered);
        } catch {
          t = null;
        }
        const rows = t && changes(t) ? await write(pool, remembered, t, correlationId, scope.origin) : null;
        if (t && rows) return committed(remembered, t, rows);
        recent.delete(id);
      }
      for (let attempt = 0; attempt < 2; attempt++) {
        const before = await load(pool, id, scope);
        if (!before) throw new SessionNotFoundError(id);
        const t = decide(before);
        if (!changes(t)) return { before, after: before, transition: t };
        const rows = await write(pool, before, t, correlationId, scope.origin);
        if (rows) return committed(before, t, rows);
      }
      const { before, t, rows } = await inTransaction({ pool }, async (client) => {
        const before = await load(client, id, scope, true);
        if (!before) throw new SessionNotFoundError(id);
        const t = decide(before);
        if (!changes(t)) return { before, t, rows: null };
        const rows = await write(client, before, t, correlationId, scope.origin);
        if (!rows) throw new ConcurrentUpdateError();
        return { before, t, rows };
      });
      if (!rows) {
        recent.set(before.id, before);
        return { before, after: before, transition: t };
      }
      return committed(before, t, rows);
    },

    /** Inserts a new session with its start events; null when the user already has an open one of that type. */
    async insert(t: Transition, correlationId: string, origin?: AuditOrigin): Promise<SessionRecord | null> {
      const s = t.session;
      const rows = [...outboxRows({ ...s, eventSeq: 0 }, t, correlationId), ...auditRows({ ...s, eventSeq: 0 }, t, origin)];
      const r = await pool.query(
        prepared(
          `WITH ins AS (
             INSERT INTO session.sessions (id, tenant_id, user_id, type, role, status, current_step, completed_steps, skipped_steps,
               step_data, metadata, version, event_seq, started_at, last_activity_at, estimated_completion, flow_version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text[], $9::text[], $10::jsonb, $11::jsonb, 1, $12, $13, $13, $14, $18)
             ON CONFLICT (tenant_id, user_id, type) WHERE status <> 'completed' DO NOTHING
             RETURNING id
           ), ob AS (
             ${outboxInsertSql('session', ['$15', '$16', '$17'], { publishedBy: 'direct', after: 'ins' })}
           )
           SELECT id FROM ins`,
          [
            s.id,
            s.tenantId,
            s.userId,
            s.type,
            s.role,
            s.status,
            s.currentStep,
            s.completedSteps,
            s.skippedSteps,
            JSON.stringify(s.stepData),
            JSON.stringify(s.metadata),
            t.events.length,
            s.startedAt,
            s.estimatedCompletion,
            ...outboxArrays(rows),
            s.flowVersion,
          ],
        ),
      );
      if (r.rowCount !== 1) return null;
      opts.publishCommitted(rows);
      const created = { ...s, version: 1, eventSeq: t.events.length };
      recent.set(created.id, created);
      return created;
    },

    async findOpen(tenantId: string, userId: string, type: string): Promise<SessionRecord | null> {
      const { rows } = await pool.query<Row>(
        `SELECT ${COLUMNS} FROM session.sessions WHERE tenant_id = $1 AND user_id = $2 AND type = $3 AND status <> 'completed'`,
        [tenantId, userId, type],
      );
      return rows[0] ? withFlow(toRecord(rows[0])) : null;
    },

    /** The user's unfinished session if any (newest first), else their newest session. */
    async findCurrent(tenantId: string, userId: string, type?: string): Promise<SessionRecord | null> {
      const { rows } = await pool.query<Row>(
        `SELECT ${COLUMNS} FROM session.sessions WHERE tenant_id = $1 AND user_id = $2 AND ($3::text IS NULL OR type = $3)
         ORDER BY (status = 'completed'), started_at DESC LIMIT 1`,
        [tenantId, userId, type ?? null],
      );
      return rows[0] ? withFlow(toRecord(rows[0])) : null;
    },

    /** Whether the user has any session in the tenant: the only way a tenant knows its users. */
    async hasSessions(tenantId: string, userId: string): Promise<boolean> {
      const { rows } = await pool.query<{ known: boolean }>('SELECT EXISTS (SELECT 1 FROM session.sessions WHERE tenant_id = $1 AND user_id = $2) AS known', [
        tenantId,
        userId,
      ]);
      return rows[0]?.known === true;
    },

    async tenantSetup(tenantId: string): Promise<{ completedAt: string; completedBy: string } | null> {
      const { rows } = await pool.query<{ setup_completed_at: string; setup_completed_by: string }>(
        'SELECT setup_completed_at, setup_completed_by FROM session.tenant_onboarding WHERE tenant_id = $1',
        [tenantId],
      );
      return rows[0] ? { completedAt: rows[0].setup_completed_at, completedBy: rows[0].setup_completed_by } : null;
    },

    /** Marks the tenant's setup completed; the first completion is kept. */
    async markTenantSetup(tenantId: string, userId: string, now: string, origin?: AuditOrigin): Promise<{ completedAt: string; completedBy: string }> {
      const audit = opts.auditSubjectPrefix
        ? [
            toAuditOutboxRow(
              opts.auditSubjectPrefix,
              buildAuditEvent({
                ...(origin ?? SYSTEM_ORIGIN),
                tenantId,
                action: 'tenant_setup.complete',
                target: { type: 'tenant', id: tenantId },
                outcome: { result: 'allowed', code: null },
              }),
            ),
          ]
        : [];
      const { rows } = await pool.query<{ setup_completed_at: string; setup_completed_by: string }>(
        `WITH t AS (
           INSERT INTO session.tenant_onboarding (tenant_id, setup_completed_at, setup_completed_by) VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id
           RETURNING setup_completed_at, setup_completed_by
         ), ob AS (
           ${outboxInsertSql('session', ['$4', '$5', '$6'], { publishedBy: 'direct', after: 't' })}
         )
         SELECT * FROM t`,
        [tenantId, now, userId, ...outboxArrays(audit)],
      );
      opts.publishCommitted(audit);
      return { completedAt: rows[0]!.setup_completed_at, completedBy: rows[0]!.setup_completed_by };
    },

    /** Union of the steps completed in the tenant's tenant_setup sessions. */
    /** The tenant's tenant_setup session that tells its setup: the last completed one, else the latest started. */
    async tenantSetupSession(tenantId: string): Promise<SessionRecord | null> {
      const { rows } = await pool.query<Row>(
        `SELECT ${COLUMNS} FROM session.sessions WHERE tenant_id = $1 AND type = 'tenant_setup'
         ORDER BY (status = 'completed') DESC, coalesce(completed_at, started_at) DESC LIMIT 1`,
        [tenantId],
      );
      return rows[0] ? withFlow(toRecord(rows[0])) : null;
    },

    /**
     * The sessions a tenant-wide signal is about: the tenant's unfinished sessions of a flow, else its newest one
     * of that flow (a completed setup still shows what Stripe says later).
     */
    async sessionsOfTenantFlow(tenantId: string, type: string): Promise<string[]> {
      const { rows } = await pool.query<{ id: string }>(
        `(SELECT id FROM session.sessions WHERE tenant_id = $1 AND type = $2 AND status <> 'completed')
         UNION ALL
         (SELECT id FROM session.sessions WHERE tenant_id = $1 AND type = $2 AND NOT EXISTS (
            SELECT 1 FROM session.sessions WHERE tenant_id = $1 AND type = $2 AND status <> 'completed')
          ORDER BY coalesce(completed_at, started_at) DESC LIMIT 1)`,
        [tenantId, type],
      );
      return rows.map((r) => r.id);
    },

    /** Marks sessions idle since before `cutoff` abandoned, in batches; returns how many. */
    async abandonInactive(cutoff: string, limit: number, decide: (s: SessionRecord) => Transition): Promise<number> {
      const { count, events } = await inTransaction({ pool }, async (client) => {
        const { rows } = await client.query<Row>(
          `SELECT ${COLUMNS} FROM session.sessions WHERE status IN ('active', 'paused') AND last_activity_at < $1
           ORDER BY last_activity_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
          [cutoff, limit],
        );
        const events: OutboxRow[] = [];
        for (const row of rows) {
          const before = await withFlow(toRecord(row));
          recent.delete(before.id);
          events.push(...((await write(client, before, decide(before), `abandon-sweep:${before.id}`)) ?? []));
        }
        return { count: rows.length, events };
      });
      opts.publishCommitted(events);
      return count;
    },

    async getBusinessHours(tenantId: string): Promise<{ config: unknown; updatedAt: string } | null> {
      const { rows } = await pool.query<{ config: unknown; updated_at: string }>(
        'SELECT config, updated_at FROM session.business_hours WHERE tenant_id = $1 AND config IS NOT NULL',
        [tenantId],
      );
      return rows[0] ? { config: rows[0].config, updatedAt: rows[0].updated_at } : null;
    },

    /** Sets (or, with null, removes) the tenant's business hours and writes business_hours.changed in the same statement. */
    async putBusinessHours(
      tenantId: string,
      config: unknown,
      userId: string,
      now: string,
      correlationId = 'business-hours',
      origin?: AuditOrigin,
    ): Promise<void> {
      const rowsOut = await inTransaction({ pool }, async (client) => {
        const { rows } = await client.query<{ version: number }>(
          `INSERT INTO session.business_hours (tenant_id, config, updated_at, updated_by, version) VALUES ($1, $2::jsonb, $3, $4, 1)
           ON CONFLICT (tenant_id) DO UPDATE SET config = EXCLUDED.config, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by,
             version = session.business_hours.version + 1
           RETURNING version`,
          [tenantId, config === null ? null : JSON.stringify(config), now, userId],
        );
        const version = rows[0]!.version;
        // A tenant-wide event: the session id is the tenant scope, the sequence the config's version.
        const row = toOutboxRow(
          opts.subjectPrefix,
          buildEnvelope({
            type: 'business_hours.changed',
            data: { config: config as never, version },
            tenantId,
            sessionId: TENANT_SCOPE_ID,
            userId,
            sessionSeq: version,
            correlationId,
          }),
        );
        const rowsOut = [row];
        if (opts.auditSubjectPrefix) {
          const action = config === null ? 'business_hours.delete' : 'business_hours.update';
          const details: Record<string, string | number> =
            config === null ? { version } : { version, timezone: String((config as { timezone?: unknown }).timezone ?? '') };
          rowsOut.push(
            toAuditOutboxRow(
              opts.auditSubjectPrefix,
              buildAuditEvent({
                ...(origin ?? SYSTEM_ORIGIN),
                tenantId,
                action,
                target: { type: 'tenant', id: tenantId },
                outcome: { result: 'allowed', code: null },
                details,
              }),
            ),
          );
        }
        await enqueue(client, 'session', rowsOut, { publishedBy: 'direct' });
        return rowsOut;
      });
      opts.publishCommitted(rowsOut);
    },

    async deleteBusinessHours(
      tenantId: string,
      userId = 'unknown',
      now = new Date().toISOString(),
      correlationId?: string,
      origin?: AuditOrigin,
    ): Promise<void> {
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM session.business_hours WHERE tenant_id = $1 AND config IS NOT NULL', [
        tenantId,
      ]);
      if (rows[0]!.n === 0) return;
      await this.putBusinessHours(tenantId, null, userId, now, correlationId, origin);
    },
  };
}

export type SessionRepository = ReturnType<typeof createSessionRepository>;
