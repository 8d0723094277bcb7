/**
 * `pnpm --filter @glavito/audit run retention -- --older-than 400d --archive-dir /backups/audit [--tenant t]`:
 * archives then deletes every tenant's audit records recorded before the cutoff (see retention.ts). Runs as the
 * database admin (DATABASE_URL): the service role cannot delete records.
 */
import { parseArgs } from 'node:util';

const out = (line: string) => process.stdout.write(`${line}\n`);
import { parseDuration } from '@glavito/config';
import { createPool } from '@glavito/db';
import { COMMAND_POOL_OPTIONS, runRetention } from './retention.js';

const { values } = parseArgs({ options: { 'older-than': { type: 'string' }, 'archive-dir': { type: 'string' }, tenant: { type: 'string' } } });
const age = values['older-than'] ? parseDuration(values['older-than']) : null;
if (!process.env.DATABASE_URL || age === null || !values['archive-dir']) {
  console.error('usage: DATABASE_URL=<admin url> retention --older-than <e.g. 400d> --archive-dir <folder> [--tenant <id>]');
  process.exit(2);
}
const pool = createPool({ connectionString: process.env.DATABASE_URL, applicationName: 'audit-retention', ...COMMAND_POOL_OPTIONS });
try {
  const results = await runRetention(pool, { cutoff: new Date(Date.now() - age), archiveDir: values['archive-dir'], tenant: values.tenant });
  for (const r of results)
    out(
      r.archive
        ? `${r.tenantId}: ${r.archived} records up to seq ${r.upToSeq} archived to ${r.archive}, then deleted`
        : `${r.tenantId}: nothing older than the cutoff`,
    );
} catch (err) {
  console.error((err as Error).message);
  process.exitCode = 1;
} finally {
  await pool.end();
}
