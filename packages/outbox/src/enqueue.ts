import { buildAuditEvent, type AuditInput } from '@glavito/bus';
import { auditSubject, eventSubject, type AuditEvent, type EventEnvelope } from '@glavito/contracts';
import { prepared, quoteIdent } from '@glavito/db';
import type pg from 'pg';

export interface OutboxRow {
  id: string;
  subject: string;
  /** A domain event, or an audit event (no session order: it goes out at once). */
  payload: EventEnvelope | AuditEvent;
}

export function toOutboxRow(subjectPrefix: string, env: EventEnvelope): OutboxRow {
  return { id: env.id, subject: eventSubject(subjectPrefix, env), payload: env };
}

export function toAuditOutboxRow(subjectPrefix: string, ev: AuditEvent): OutboxRow {
  return { id: ev.id, subject: auditSubject(subjectPrefix, ev), payload: ev };
}

/**
 * Who publishes a row. `direct`: its writer, right after the commit (`OutboxRelay.publishCommitted`); the row's
 * relay_after is a few seconds ahead, so the relay leaves it alone until then and only picks up what the direct
 * publish did not get out (a crash, NATS down). `relay`: the relay, at once (its trigger wakes it).
 */
export type PublishedBy = 'direct' | 'relay';

/** How long the relay leaves a directly published row to its writer; a publish normally takes a millisecond. */
const DIRECT_PUBLISH_RELAY_AFTER = "now() + interval '5 seconds'";
const relayAfterSql = (by: PublishedBy) => (by === 'direct' ? DIRECT_PUBLISH_RELAY_AFTER : 'now()');

/** Each row's payload as the insert wrote it: the direct publish sends the same text instead of serializing it again. */
const payloadTexts = new WeakMap<OutboxRow, string>();

/** A row's payload as JSON (the text stored by its insert, when there was one). */
export function payloadText(row: OutboxRow): string {
  let text = payloadTexts.get(row);
  if (text === undefined) {
    text = JSON.stringify(row.payload);
    payloadTexts.set(row, text);
  }
  return text;
}

/** The three array parameters an outbox insert takes (ids, subjects, payloads), in that order. */
export function outboxArrays(rows: readonly OutboxRow[]): [string[], string[], string[]] {
  return [rows.map((r) => r.id), rows.map((r) => r.subject), rows.map(payloadText)];
}

export interface OutboxInsertOptions {
  publishedBy: PublishedBy;
  /** Names of CTEs (or tables) the rows depend on: the insert writes nothing when one of them has no row. */
  after?: string;
  /**
   * For a statement that writes for many events at once: `sources` is the placeholder of a uuid[] aligned with the
   * rows (the event each row answers), and only rows whose source is among the `event_id`s of the CTE `in` are
   * inserted (the events the statement did apply).
   */
  onlyFor?: { sources: string; in: string };
}

/**
 * `INSERT INTO <schema>.outbox …` taking its rows from three array parameters (`outboxArrays`) given by their
 * placeholders, e.g. ['$14', '$15', '$16']: the outbox part of a one-statement save (a CTE or the statement's
 * last part), so the change and its events commit together without another round trip.
 */
export function outboxInsertSql(schema: string, params: readonly [string, string, string], opts: OutboxInsertOptions): string {
  const [ids, subjects, payloads] = params;
  const only = opts.onlyFor;
  const from = only
    ? `unnest(${ids}::uuid[], ${subjects}::text[], ${payloads}::jsonb[], ${only.sources}::uuid[]) AS o(id, subject, payload, source)`
    : `unnest(${ids}::uuid[], ${subjects}::text[], ${payloads}::jsonb[]) AS o(id, subject, payload)`;
  return (
    `INSERT INTO ${quoteIdent(schema)}.outbox (id, subject, payload, relay_after) ` +
    `SELECT o.id, o.subject, o.payload, ${relayAfterSql(opts.publishedBy)} FROM ${opts.after ? `${opts.after}, ` : ''}${from}` +
    (only ? ` WHERE o.source IN (SELECT event_id FROM ${only.in})` : '')
  );
}

/** A pool (a statement of its own) or a client inside the caller's transaction. */
type Queryable = { query(config: pg.QueryConfig): Promise<unknown> };

/**
 * Inserts rows in the caller's transaction (or on their own when `client` is a pool). With `publishedBy:
 * 'direct'` the caller hands the same rows to `publishCommitted` once its transaction has committed.
 */
export async function enqueue(client: Queryable, schema: string, rows: readonly OutboxRow[], opts: { publishedBy: PublishedBy }): Promise<void> {
  if (rows.length === 0) return;
  await client.query(prepared(outboxInsertSql(schema, ['$1', '$2', '$3'], opts), outboxArrays(rows)));
}

/**
 * Stores one audit event in the service's outbox in its own statement, for an action that changes nothing the
 * service stores (a read of statistics or of the audit trail): the read goes ahead only once its record is
 * committed. The writer publishes it right away; the relay takes it if that fails.
 */
export async function writeAuditEvent(
  pool: Queryable,
  relay: { publishCommitted(rows: OutboxRow[]): void },
  opts: { schema: string; subjectPrefix: string },
  input: AuditInput,
): Promise<AuditEvent> {
  const ev = buildAuditEvent(input);
  const row = toAuditOutboxRow(opts.subjectPrefix, ev);
  await enqueue(pool, opts.schema, [row], { publishedBy: 'direct' });
  relay.publishCommitted([row]);
  return ev;
}
