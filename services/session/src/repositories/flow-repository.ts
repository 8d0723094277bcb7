import { buildAuditEvent, buildEnvelope } from '@glavito/bus';
import { enqueue, outboxArrays, outboxInsertSql, type OutboxRow, toAuditOutboxRow, toOutboxRow } from '@glavito/outbox';
import {
  BUILT_IN_FLOW_VERSION,
  builtInDefinition,
  builtInFlow,
  FlowDefinitionSchema,
  flowPublishedData,
  resolveFlow,
  type FieldError,
  type FlowDefinition,
  type OnboardingType,
  type ResolvedFlow,
} from '@glavito/contracts';
import { inTransaction, prepared, recentWrites, type Pool } from '@glavito/db';
import { SYSTEM_ORIGIN, type AuditOrigin } from '../domain/audit.js';
import { FlowChangedError, FlowInvalidError, FlowNoDraftError } from '../errors.js';
import { withDetails } from '@glavito/http';

/** The envelope `sessionId` of a tenant's flow events: one sequence per type, `sessionSeq` = version - 1. */
export const flowScopeId = (type: OnboardingType) => `_flow_${type}`;

export interface FlowDraft {
  saved: boolean;
  definition: FlowDefinition;
  revision: number;
  updatedAt: string | null;
  updatedBy: string | null;
  basedOnVersion: number;
}

export interface FlowRepositoryOptions {
  subjectPrefix: string;
  publishCommitted: (rows: OutboxRow[]) => void;
  /** Subject prefix of audit events: a draft save's and a publish's record go into the outbox with the change. */
  auditSubjectPrefix?: string;
  /** Resolved versions kept in memory (they never change once published). */
  cacheSize?: number;
}

/**
 * A tenant's flows: drafts, immutable published versions, and the resolved flow a session pinned. Reads of a
 * published version are cached for good (a version never changes); the current version is read per start.
 */
export function createFlowRepository(pool: Pool, opts: FlowRepositoryOptions) {
  const resolved = recentWrites<ResolvedFlow>(opts.cacheSize ?? 1000);
  const key = (tenantId: string, type: string, version: number) => `${tenantId}\u0000${type}\u0000${version}`;

  async function definitionOf(tenantId: string, type: OnboardingType, version: number): Promise<FlowDefinition | null> {
    if (version === BUILT_IN_FLOW_VERSION) return builtInDefinition(type);
    const { rows } = await pool.query<{ definition: FlowDefinition }>(
      prepared('SELECT definition FROM session.flow_versions WHERE tenant_id = $1 AND type = $2 AND version = $3', [tenantId, type, version]),
    );
    return rows[0] ? FlowDefinitionSchema.parse(rows[0].definition) : null;
  }

  async function get(tenantId: string, type: OnboardingType, version: number): Promise<ResolvedFlow | null> {
    if (version === BUILT_IN_FLOW_VERSION) return builtInFlow(type);
    const k = key(tenantId, type, version);
    const hit = resolved.get(k);
    if (hit) return hit;
    const def = await definitionOf(tenantId, type, version);
    if (!def) return null;
    const flow = resolveFlow(type, version, def);
    resolved.set(k, flow);
    return flow;
  }

  async function currentVersion(tenantId: string, type: OnboardingType): Promise<number> {
    const { rows } = await pool.query<{ version: number | null }>(
      prepared('SELECT max(version) AS version FROM session.flow_versions WHERE tenant_id = $1 AND type = $2', [tenantId, type]),
    );
    return rows[0]?.version ?? BUILT_IN_FLOW_VERSION;
  }

  /** The change's audit record as an outbox row (none when audit is not configured). */
  function auditRow(
    origin: AuditOrigin | undefined,
    tenantId: string,
    type: OnboardingType,
    action: 'flow.draft_save' | 'flow.publish',
    details: Record<string, string | number | null>,
  ): OutboxRow[] {
    if (!opts.auditSubjectPrefix) return [];
    const ev = buildAuditEvent({
      ...(origin ?? SYSTEM_ORIGIN),
      tenantId,
      action,
      target: { type: 'flow', id: type },
      outcome: { result: 'allowed', code: null },
      details,
    });
    return [toAuditOutboxRow(opts.auditSubjectPrefix, ev)];
  }

  return {
    get,
    definitionOf,
    currentVersion,

    /** The flow a session of this tenant and type starts on now. */
    async current(tenantId: string, type: OnboardingType): Promise<ResolvedFlow> {
      return (await get(tenantId, type, await currentVersion(tenantId, type))) ?? builtInFlow(type);
    },

    async draft(tenantId: string, type: OnboardingType): Promise<FlowDraft> {
      const { rows } = await pool.query<{ definition: FlowDefinition; revision: number; updated_at: string; updated_by: string }>(
        'SELECT definition, revision, updated_at, updated_by FROM session.flow_drafts WHERE tenant_id = $1 AND type = $2',
        [tenantId, type],
      );
      const basedOnVersion = await currentVersion(tenantId, type);
      const row = rows[0];
      if (row) return { saved: true, definition: row.definition, revision: row.revision, updatedAt: row.updated_at, updatedBy: row.updated_by, basedOnVersion };
      return { saved: false, definition: (await definitionOf(tenantId, type, basedOnVersion))!, revision: 0, updatedAt: null, updatedBy: null, basedOnVersion };
    },

    /**
     * Saves the draft; with `revision`, only over that revision (else 409: someone saved in between). The save and
     * its audit record (which names the revision saved, never the definition) commit together.
     */
    async saveDraft(
      tenantId: string,
      type: OnboardingType,
      definition: FlowDefinition,
      userId: string,
      now: string,
      revision?: number,
      origin?: AuditOrigin,
    ): Promise<void> {
      const audit = await inTransaction({ pool }, async (client) => {
        const { rows } = await client.query<{ revision: number }>(
          `INSERT INTO session.flow_drafts (tenant_id, type, definition, revision, updated_at, updated_by) VALUES ($1, $2, $3::jsonb, 1, $4, $5)
           ON CONFLICT (tenant_id, type) DO UPDATE SET definition = EXCLUDED.definition, revision = session.flow_drafts.revision + 1,
             updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
           WHERE $6::int IS NULL OR session.flow_drafts.revision = $6::int
           RETURNING revision`,
          [tenantId, type, JSON.stringify(definition), now, userId, revision ?? null],
        );
        const saved = rows[0];
        if (!saved) throw new FlowChangedError();
        const out = auditRow(origin, tenantId, type, 'flow.draft_save', {
          flowType: type,
          revision: saved.revision,
          ifRevision: revision ?? null,
          stepCount: definition.steps.length,
        });
        await enqueue(client, 'session', out, { publishedBy: 'direct' });
        return out;
      });
      opts.publishCommitted(audit);
    },

    /**
     * Publishes the draft as the next version and writes flow.published in the same transaction. `check` returns
     * the invariant violations (none → published). The draft row is locked, so two publishes are serialised.
     */
    async publish(
      tenantId: string,
      type: OnboardingType,
      userId: string,
      now: string,
      correlationId: string,
      check: (def: FlowDefinition, published: FlowDefinition | undefined) => FieldError[],
      origin?: AuditOrigin,
    ): Promise<ResolvedFlow> {
      const { flow, version, out } = await inTransaction({ pool }, async (client) => {
        const { rows } = await client.query<{ definition: FlowDefinition }>(
          'SELECT definition FROM session.flow_drafts WHERE tenant_id = $1 AND type = $2 FOR UPDATE',
          [tenantId, type],
        );
        const draft = rows[0] ? FlowDefinitionSchema.parse(rows[0].definition) : null;
        if (!draft) throw new FlowNoDraftError(type);
        const current = await client.query<{ version: number | null }>(
          'SELECT max(version) AS version FROM session.flow_versions WHERE tenant_id = $1 AND type = $2',
          [tenantId, type],
        );
        const previous = current.rows[0]?.version ?? BUILT_IN_FLOW_VERSION;
        const published = previous === BUILT_IN_FLOW_VERSION ? undefined : ((await definitionOf(tenantId, type, previous)) ?? undefined);
        const errors = check(draft, published);
        if (errors.length > 0) throw withDetails(new FlowInvalidError(errors.map((e) => e.message).join('; ')), errors);
        const version = previous + 1;
        const flow = resolveFlow(type, version, draft);
        const row = toOutboxRow(
          opts.subjectPrefix,
          buildEnvelope({
            type: 'flow.published',
            data: flowPublishedData(flow, now),
            tenantId,
            sessionId: flowScopeId(type),
            userId,
            sessionSeq: version - 1,
            correlationId,
          }),
        );
        const out = [
          row,
          ...auditRow(origin, tenantId, type, 'flow.publish', { flowType: type, version, previousVersion: previous, stepCount: flow.steps.length }),
        ];
        // The version, its flow.published event and its audit record: one statement.
        await client.query(
          `WITH v AS (
             INSERT INTO session.flow_versions (tenant_id, type, version, definition, published_at, published_by) VALUES ($1, $2, $3, $4::jsonb, $5, $6)
           )
           ${outboxInsertSql('session', ['$7', '$8', '$9'], { publishedBy: 'direct' })}`,
          [tenantId, type, version, JSON.stringify(draft), now, userId, ...outboxArrays(out)],
        );
        return { flow, version, out };
      });
      opts.publishCommitted(out);
      resolved.set(key(tenantId, type, version), flow);
      return flow;
    },

    async versions(
      tenantId: string,
      type: OnboardingType,
    ): Promise<Array<{ version: number; publishedAt: string | null; publishedBy: string | null; stepCount: number }>> {
      const { rows } = await pool.query<{ version: number; published_at: string; published_by: string; step_count: number }>(
        `SELECT version, published_at, published_by, jsonb_array_length(definition->'steps') AS step_count
         FROM session.flow_versions WHERE tenant_id = $1 AND type = $2 ORDER BY version DESC`,
        [tenantId, type],
      );
      return [
        ...rows.map((r) => ({ version: r.version, publishedAt: r.published_at, publishedBy: r.published_by, stepCount: r.step_count })),
        { version: BUILT_IN_FLOW_VERSION, publishedAt: null, publishedBy: null, stepCount: builtInFlow(type).steps.length },
      ];
    },
  };
}

export type FlowRepository = ReturnType<typeof createFlowRepository>;
