import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { finished } from 'node:stream/promises';
import type { AuditRecord } from '@glavito/contracts';
import { inTransaction, type Pool, type PoolOptions } from '@glavito/db';
import { createChainVerifier, GENESIS_HASH, type BrokenLink } from './domain/chain.js';
import { createRecordRepository, toRecord } from './repositories/record-repository.js';

/**
 * The pool of the offline commands (`verify`, `retention`). No statement timeout: the service's 10 s is for answering
 * requests, and retention deletes a tenant's expired records in one statement, however many years of them there are.
 */
export const COMMAND_POOL_OPTIONS = { max: 2, statementTimeoutMillis: 0 } satisfies Partial<PoolOptions>;

export interface ArchiveHeader {
  archive: 'glavito-audit';
  version: 1;
  tenantId: string;
  /** The chain continues from here: the anchor (or genesis) before the first archived record. */
  startSeq: number;
  startHash: string;
  endSeq: number;
  endHash: string;
  createdAt: string;
}

export interface RetentionResult {
  tenantId: string;
  archived: number;
  archive: string | null;
  upToSeq: number | null;
}

/**
 * Retention by age, run as the database admin (the service role cannot delete records). Per tenant: the prefix of the
 * chain recorded before `cutoff` is verified, written to `<archiveDir>/audit-<tenant>-<from>-<to>.ndjson` (a header
 * line, then the records with their hashes), flushed to disk, and only then deleted in the transaction that stores an
 * anchor (the last archived seq and hash, and the archive's sha256). Verification of what stays starts at the anchor,
 * and the archive verifies on its own from its header (`pnpm audit:verify --archive <file>`).
 */
export async function runRetention(admin: Pool, opts: { cutoff: Date; archiveDir: string; tenant?: string }): Promise<RetentionResult[]> {
  const repo = createRecordRepository(admin);
  const tenants = opts.tenant ? [opts.tenant] : await repo.tenants();
  await mkdir(opts.archiveDir, { recursive: true });
  const results: RetentionResult[] = [];
  for (const tenantId of tenants) {
    const anchor = await admin.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit.anchors WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1', [
      tenantId,
    ]);
    const start = anchor.rows[0] ? { seq: Number(anchor.rows[0].seq), hash: anchor.rows[0].hash } : { seq: 0, hash: GENESIS_HASH };
    const upTo = await admin.query<{ seq: string | null }>('SELECT max(seq) AS seq FROM audit.records WHERE tenant_id = $1 AND seq > $2 AND recorded_at < $3', [
      tenantId,
      start.seq,
      opts.cutoff,
    ]);
    const endSeq = upTo.rows[0]?.seq ? Number(upTo.rows[0].seq) : null;
    if (endSeq === null) {
      results.push({ tenantId, archived: 0, archive: null, upToSeq: null });
      continue;
    }
    const name = `audit-${tenantId}-${start.seq + 1}-${endSeq}.ndjson`;
    const file = path.join(opts.archiveDir, name);
    const partial = `${file}.partial`;
    const verifier = createChainVerifier(start);
    const out = createWriteStream(partial, { flags: 'wx' });
    const hash = createHash('sha256');
    const write = async (line: string) => {
      hash.update(line);
      if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
    };
    let endHash = '';
    try {
      // Header first: its endHash is known only after reading, so it is read from the last record up front.
      const last = await admin.query<{ hash: string }>('SELECT hash FROM audit.records WHERE tenant_id = $1 AND seq = $2', [tenantId, endSeq]);
      endHash = last.rows[0]!.hash;
      const header: ArchiveHeader = {
        archive: 'glavito-audit',
        version: 1,
        tenantId,
        startSeq: start.seq,
        startHash: start.hash,
        endSeq,
        endHash,
        createdAt: new Date().toISOString(),
      };
      await write(`${JSON.stringify(header)}\n`);
      let after = start.seq;
      for (;;) {
        const { rows } = await admin.query('SELECT * FROM audit.records WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT 5000', [
          tenantId,
          after,
          endSeq,
        ]);
        if (rows.length === 0) break;
        const page = rows.map((r) => toRecord(r as never));
        const broken = verifier.check(page);
        if (broken) throw new RetentionRefusedError(tenantId, broken);
        for (const r of page) await write(`${JSON.stringify(r)}\n`);
        after = page[page.length - 1]!.seq;
      }
      if (after !== endSeq) throw new RetentionRefusedError(tenantId, { seq: after + 1, id: null, reason: 'seq_gap' });
      out.end();
      await finished(out);
    } catch (err) {
      out.destroy();
      throw err;
    }
    await rename(partial, file);
    const sha = hash.digest('hex');
    const archived = await inTransaction({ pool: admin }, async (client) => {
      await client.query('INSERT INTO audit.anchors (tenant_id, seq, hash, archive, archive_sha256) VALUES ($1, $2, $3, $4, $5)', [
        tenantId,
        endSeq,
        endHash,
        name,
        sha,
      ]);
      const del = await client.query('DELETE FROM audit.records WHERE tenant_id = $1 AND seq <= $2', [tenantId, endSeq]);
      return del.rowCount ?? 0;
    });
    results.push({ tenantId, archived, archive: file, upToSeq: endSeq });
  }
  return results;
}

export class RetentionRefusedError extends Error {
  constructor(
    public readonly tenantId: string,
    public readonly broken: BrokenLink,
  ) {
    super(`audit retention refused for tenant ${tenantId}: its chain is broken at seq ${broken.seq} (${broken.reason}); nothing was archived or deleted`);
    this.name = 'RetentionRefusedError';
  }
}

/** Verifies an archive file on its own: its header's start, every record's link and hash, and its declared end. */
export async function verifyArchive(file: string): Promise<{ header: ArchiveHeader; records: number; firstBroken: BrokenLink | null }> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let header: ArchiveHeader | null = null;
  let verifier: ReturnType<typeof createChainVerifier> | null = null;
  let lastHash = '';
  for await (const line of lines) {
    if (!line) continue;
    if (!header) {
      header = JSON.parse(line) as ArchiveHeader;
      verifier = createChainVerifier({ seq: header.startSeq, hash: header.startHash });
      continue;
    }
    const record = JSON.parse(line) as AuditRecord;
    const broken = verifier!.check([record]);
    if (broken) return { header, records: verifier!.checked, firstBroken: broken };
    lastHash = record.hash;
  }
  if (!header || !verifier) throw new Error(`${file}: not an audit archive (no header line)`);
  const complete = verifier.checked === header.endSeq - header.startSeq && lastHash === header.endHash;
  return { header, records: verifier.checked, firstBroken: complete ? null : { seq: header.startSeq + verifier.checked + 1, id: null, reason: 'seq_gap' } };
}
