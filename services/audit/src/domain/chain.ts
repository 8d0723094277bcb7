import { createHash } from 'node:crypto';
import type { AuditEvent, AuditRecord } from '@glavito/contracts';

export const GENESIS_HASH = '0'.repeat(64);

/** What a record's hash covers: every field but the hash itself. */
export type ChainedFields = Omit<AuditRecord, 'hash'>;

/**
 * Canonical JSON: object keys sorted, no whitespace, instants as `toISOString()` (so a timestamp read back from
 * Postgres encodes exactly as it did when hashed). Arrays keep their order.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export const isoInstant = (value: string): string => new Date(value).toISOString();

/** sha256 over `<prevHash>\n<canonical record>` (hex). */
export function recordHash(fields: ChainedFields): string {
  const canonical = canonicalJson({ ...fields, occurredAt: isoInstant(fields.occurredAt), recordedAt: isoInstant(fields.recordedAt) });
  return createHash('sha256').update(`${fields.prevHash}\n${canonical}`).digest('hex');
}

/** Appends events to a tenant's chain whose head is (seq, hash); pure. */
export function chainEvents(head: { seq: number; hash: string }, events: AuditEvent[], recordedAt: string): AuditRecord[] {
  const out: AuditRecord[] = [];
  let { seq, hash } = head;
  for (const ev of events) {
    const { type: _type, version: _version, ...rest } = ev;
    const fields: ChainedFields = { ...rest, occurredAt: isoInstant(ev.occurredAt), recordedAt, seq: seq + 1, prevHash: hash };
    const record: AuditRecord = { ...fields, hash: recordHash(fields) };
    out.push(record);
    seq = record.seq;
    hash = record.hash;
  }
  return out;
}

export type BrokenLink = { seq: number; id: string | null; reason: 'hash_mismatch' | 'prev_hash_mismatch' | 'seq_gap' | 'anchor_mismatch' };

/**
 * Checks records of one tenant in seq order, continuing from `start` (the genesis, or the anchor retention left).
 * Feed pages in order; returns the first broken link, or null.
 */
export function createChainVerifier(start: { seq: number; hash: string }) {
  let expectedSeq = start.seq + 1;
  let prev = start.hash;
  let checked = 0;
  let broken: BrokenLink | null = null;
  return {
    check(records: Iterable<AuditRecord>): BrokenLink | null {
      if (broken) return broken;
      for (const r of records) {
        checked++;
        if (r.seq !== expectedSeq) return (broken = { seq: expectedSeq, id: null, reason: checked === 1 && start.seq > 0 ? 'anchor_mismatch' : 'seq_gap' });
        if (r.prevHash !== prev) return (broken = { seq: r.seq, id: r.id, reason: checked === 1 && start.seq > 0 ? 'anchor_mismatch' : 'prev_hash_mismatch' });
        const { hash, ...fields } = r;
        if (recordHash(fields) !== hash) return (broken = { seq: r.seq, id: r.id, reason: 'hash_mismatch' });
        prev = hash;
        expectedSeq++;
      }
      return null;
    },
    get checked() {
      return checked;
    },
  };
}
