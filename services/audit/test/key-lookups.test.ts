import { createPool, urlForRole, type Pool } from '@glavito/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecordRepository } from '../src/repositories/record-repository.js';
import { makeEvent, startHarness, type AuditHarness } from './helpers.js';

/** A fresh database of its own: the connection below must first meet empty tables. */
let h: AuditHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

/** Rows read in the tables (sequential scans and index fetches), as the statistics have them. */
async function rowsRead(pool: Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ relname: string; read: string }>(
    `SELECT relname, seq_tup_read + coalesce(idx_tup_fetch, 0) AS read FROM pg_stat_user_tables WHERE schemaname = 'audit' AND relname IN ('records', 'chain_heads')`,
  );
  return Object.fromEntries(rows.map((r) => [r.relname, Number(r.read)]));
}

describe('appending as the tables grow', () => {
  it('reads only the rows of the appended events and their tenants, on a connection first used while the tables were empty', async () => {
    // One connection, as a service's pool connection lives: a plan Postgres cached on it (after five calls) was made
    // from empty tables and read every record and chain head on each later call.
    const pool = createPool({ connectionString: urlForRole(h.db.url, 'audit_svc'), max: 1, applicationName: 'key-lookups' });
    try {
      const repo = createRecordRepository(pool);
      for (let i = 0; i < 6; i++) expect(await repo.append([makeEvent({ tenantId: 'tenant_grow', details: { n: i } })])).toBe(1);
      // 3,000 records of 1,000 other tenants, through the same connection: every read it made so far is reported
      // below, before the measurement starts.
      for (let t = 0; t < 1000; t += 100)
        await repo.append(Array.from({ length: 300 }, (_, i) => makeEvent({ tenantId: `tenant_other_${t + (i % 100)}`, details: { n: i } })));
      // A backend reports its reads to the statistics when a transaction ends, at most once a second unless forced.
      await pool.query('SELECT pg_stat_force_next_flush()');
      const before = await rowsRead(pool);
      expect(await repo.append([makeEvent({ tenantId: 'tenant_grow', details: { n: 'last' } })])).toBe(1);
      await pool.query('SELECT pg_stat_force_next_flush()');
      const after = await rowsRead(pool);
      // Its tenant's head (and the event's own id, not stored yet): a handful, not the 3,006 records and 1,001 heads.
      expect(after.records! - before.records!).toBeLessThan(50);
      expect(after.chain_heads! - before.chain_heads!).toBeLessThan(50);
    } finally {
      await pool.end();
    }
  });
});
