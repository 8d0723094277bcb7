import type { AuditEvent, AuditOutcome, AuditRecord } from '@glavito/contracts';
import { inTransaction, prepared, type Pool } from '@glavito/db';
import { chainEvents, createChainVerifier, GENESIS_HASH, type BrokenLink } from '../domain/chain.js';

type Row = {
  tenant_id: string;
  seq: string;
  id: string;
  occurred_at: Date;
  recorded_at: Date;
  actor_subject: string;
  actor_roles: string[];
  action: string;
  target_type: string;
  target_id: string | null;
  outcome: string;
  outcome_code: string | null;
  request_id: string | null;
  correlation_id: string | null;
  client_ip: string | null;
  user_agent: string | null;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
};

const COLUMNS = `tenant_id, seq, id, occurred_at, recorded_at, actor_subject, actor_roles, action, target_type, target_id, outcome,
  outcome_code, request_id, correlation_id, client_ip, user_agent, details, prev_hash, hash`;

export function toRecord(r: Row): AuditRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    seq: Number(r.seq),
    occurredAt: new Date(r.occurred_at).toISOString(),
    recordedAt: new Date(r.recorded_at).toISOString(),
    actor: { subject: r.actor_subject, roles: r.actor_roles },
    action: r.action as AuditRecord['action'],
    target: { type: r.target_type, id: r.target_id },
    outcome: { result: r.outcome as AuditOutcome, code: r.outcome_code },
    requestId: r.request_id,
    correlationId: r.correlation_id,
    clientIp: r.client_ip,
    userAgent: r.user_agent,
    details: r.details as AuditRecord['details'],
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export interface RecordFilter {
  tenantId: string;
  actor?: string;
  action?: string;
  outcome?: string;
  targetType?: string;
  targetId?: string;
  from?: string;
  to?: string;
}

/** WHERE clause of a filtered read; `$1` is the tenant, the rest follow in order. */
function where(f: RecordFilter, values: unknown[]): string {
  values.push(f.tenantId);
  const parts = ['tenant_id = $1'];
  const add = (sql: string, v: unknown) => {
    values.push(v);
    parts.push(sql.replace('?', `$${values.length}`));
  };
  if (f.actor !== undefined) add('actor_subject = ?', f.actor);
  if (f.action !== undefined) add('action = ?', f.action);
  if (f.outcome !== undefined) add('outcome = ?', f.outcome);
  if (f.targetType !== undefined) add('target_type = ?', f.targetType);
  if (f.targetId !== undefined) add('target_id = ?', f.targetId);
  if (f.from !== undefined) add('occurred_at >= ?', f.from);
  if (f.to !== undefined) add('occurred_at < ?', f.to);
  return parts.join(' AND ');
}

export function createRecordRepository(pool: Pool) {
  return {
    /**
     * Appends events to their tenants' chains in one transaction: each tenant's head row is locked (so replicas
     * append one after the other), events already stored (a redelivery) are skipped, the rest are hashed after the
     * head and inserted, and the head moves on. Returns how many were new.
     */
    async append(events: AuditEvent[]): Promise<number> {
      if (events.length === 0) return 0;
      const byTenant = new Map<string, AuditEvent[]>();
      const seen = new Set<string>();
      for (const ev of events) {
        if (seen.has(ev.id)) continue;
        seen.add(ev.id);
        const list = byTenant.get(ev.tenantId) ?? [];
        list.push(ev);
        byTenant.set(ev.tenantId, list);
      }
      const tenants = [...byTenant.keys()].sort();
      return inTransaction({ pool }, async (client) => {
        await client.query(
          prepared(`INSERT INTO audit.chain_heads (tenant_id, seq, hash) SELECT t, 0, $2 FROM unnest($1::text[]) AS t ON CONFLICT (tenant_id) DO NOTHING`, [
            tenants,
            GENESIS_HASH,
          ]),
        );
        // The three statements that find rows by a list of keys are planned per call (not `prepared`): a plan a
        // connection cached while the tables were near empty would read all of them on every call (a hash join over every
        // record ever appended) until an ANALYZE made Postgres plan again (bench/RESULTS.md §12).
        // Sorted, so two replicas locking overlapping tenants never deadlock.
        const heads = await client.query<{ tenant_id: string; seq: string; hash: string }>({
          text: 'SELECT tenant_id, seq, hash FROM audit.chain_heads WHERE tenant_id = ANY($1::text[]) ORDER BY tenant_id FOR UPDATE',
          values: [tenants],
        });
        const stored = await client.query<{ id: string }>({
          text: 'SELECT r.id FROM unnest($1::uuid[]) AS u(id) JOIN audit.records r ON r.id = u.id',
          values: [[...seen]],
        });
        const already = new Set(stored.rows.map((r) => r.id));
        const recordedAt = new Date().toISOString();
        const fresh: AuditRecord[] = [];
        const newHeads: Array<{ tenant: string; seq: number; hash: string }> = [];
        for (const h of heads.rows) {
          const todo = byTenant.get(h.tenant_id)!.filter((e) => !already.has(e.id));
          if (todo.length === 0) continue;
          const chained = chainEvents({ seq: Number(h.seq), hash: h.hash }, todo, recordedAt);
          fresh.push(...chained);
          const last = chained[chained.length - 1]!;
          newHeads.push({ tenant: h.tenant_id, seq: last.seq, hash: last.hash });
        }
        if (fresh.length > 0) {
          await client.query(
            prepared(
              `INSERT INTO audit.records (${COLUMNS})
               SELECT tenant_id, seq, id, occurred_at, recorded_at, actor_subject, actor_roles::text[], action, target_type, target_id, outcome,
                 outcome_code, request_id, correlation_id, client_ip, user_agent, details, prev_hash, hash
               FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::text[],
                 $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::jsonb[], $18::text[], $19::text[])
                 AS n(tenant_id, seq, id, occurred_at, recorded_at, actor_subject, actor_roles, action, target_type, target_id, outcome,
                   outcome_code, request_id, correlation_id, client_ip, user_agent, details, prev_hash, hash)`,
              [
                fresh.map((r) => r.tenantId),
                fresh.map((r) => r.seq),
                fresh.map((r) => r.id),
                fresh.map((r) => r.occurredAt),
                fresh.map((r) => r.recordedAt),
                fresh.map((r) => r.actor.subject),
                // A text[][] needs rows of equal length: each record's roles travel as one array literal, cast per row.
                fresh.map((r) => `{${r.actor.roles.map((x) => `"${x.replace(/["\\]/g, '\\$&')}"`).join(',')}}`),
                fresh.map((r) => r.action),
                fresh.map((r) => r.target.type),
                fresh.map((r) => r.target.id),
                fresh.map((r) => r.outcome.result),
                fresh.map((r) => r.outcome.code),
                fresh.map((r) => r.requestId),
                fresh.map((r) => r.correlationId),
                fresh.map((r) => r.clientIp),
                fresh.map((r) => r.userAgent),
                fresh.map((r) => JSON.stringify(r.details)),
                fresh.map((r) => r.prevHash),
                fresh.map((r) => r.hash),
              ],
            ),
          );
          await client.query({
            text: `UPDATE audit.chain_heads h SET seq = n.seq, hash = n.hash FROM unnest($1::text[], $2::bigint[], $3::text[]) AS n(tenant, seq, hash) WHERE h.tenant_id = n.tenant`,
            values: [newHeads.map((h) => h.tenant), newHeads.map((h) => h.seq), newHeads.map((h) => h.hash)],
          });
        }
        return fresh.length;
      });
    },

    /** One page, newest first; the cursor is the seq of the last record of the previous page. */
    async list(f: RecordFilter, limit: number, cursor?: number): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
      const values: unknown[] = [];
      let sql = where(f, values);
      if (cursor !== undefined) {
        values.push(cursor);
        sql += ` AND seq < $${values.length}`;
      }
      values.push(limit + 1);
      const { rows } = await pool.query<Row>(`SELECT ${COLUMNS} FROM audit.records WHERE ${sql} ORDER BY seq DESC LIMIT $${values.length}`, values);
      const items = rows.slice(0, limit).map(toRecord);
      return { items, nextCursor: rows.length > limit ? String(items[items.length - 1]!.seq) : null };
    },

    /** Every matching record, newest first, read a page at a time as the consumer pulls (constant memory). */
    async *exportRows(f: RecordFilter, pageSize = 1000): AsyncGenerator<AuditRecord> {
      let cursor: number | undefined;
      for (;;) {
        const page = await this.list(f, pageSize, cursor);
        for (const r of page.items) yield r;
        if (!page.nextCursor) return;
        cursor = Number(page.nextCursor);
      }
    },

    /**
     * Checks a tenant's chain from its latest retention anchor (or the genesis) to its head. The head is read first:
     * it is the chain's length at that moment (records and head commit together), so every record up to it must be
     * there, and records appended while the pages are read (the verify route's own audit.verify, for one) are not a gap.
     */
    async verify(tenantId: string, pageSize = 5000): Promise<{ records: number; firstBroken: BrokenLink | null }> {
      const head = await pool.query<{ seq: string }>('SELECT seq FROM audit.chain_heads WHERE tenant_id = $1', [tenantId]);
      const headSeq = Number(head.rows[0]?.seq ?? 0);
      const anchor = await pool.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit.anchors WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1', [
        tenantId,
      ]);
      const start = anchor.rows[0] ? { seq: Number(anchor.rows[0].seq), hash: anchor.rows[0].hash } : { seq: 0, hash: GENESIS_HASH };
      const verifier = createChainVerifier(start);
      let after = start.seq;
      for (;;) {
        const { rows } = await pool.query<Row>(`SELECT ${COLUMNS} FROM audit.records WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4`, [
          tenantId,
          after,
          headSeq,
          pageSize,
        ]);
        if (rows.length === 0) break;
        const broken = verifier.check(rows.map(toRecord));
        if (broken) return { records: verifier.checked, firstBroken: broken };
        after = Number(rows[rows.length - 1]!.seq);
      }
      // Records cut off the chain's end (a deleted newest record) show here: the head says how long it is.
      if (headSeq > after) return { records: verifier.checked, firstBroken: { seq: after + 1, id: null, reason: 'seq_gap' } };
      return { records: verifier.checked, firstBroken: null };
    },

    async tenants(): Promise<string[]> {
      const { rows } = await pool.query<{ tenant_id: string }>('SELECT tenant_id FROM audit.chain_heads ORDER BY tenant_id');
      return rows.map((r) => r.tenant_id);
    },
  };
}

export type RecordRepository = ReturnType<typeof createRecordRepository>;
