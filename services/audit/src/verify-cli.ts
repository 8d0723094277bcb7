/**
 * `pnpm audit:verify [--tenant <id>]`: checks every tenant's audit hash chain (or one), from its latest retention
 * anchor to its head, and names the first broken link. Exit code 1 when a chain is broken. Reads with DATABASE_URL
 * (or SERVICE_DATABASE_URL): verifying needs nothing more than SELECT.
 */
import { parseArgs } from 'node:util';

const out = (line: string) => process.stdout.write(`${line}\n`);
import { createPool } from '@glavito/db';
import { createRecordRepository } from './repositories/record-repository.js';
import { COMMAND_POOL_OPTIONS, verifyArchive } from './retention.js';

const { values } = parseArgs({ options: { tenant: { type: 'string' }, archive: { type: 'string', multiple: true } } });
for (const file of values.archive ?? []) {
  const r = await verifyArchive(file);
  out(
    r.firstBroken
      ? `BROKEN  archive ${file} (${r.header.tenantId}): first broken link seq ${r.firstBroken.seq}: ${r.firstBroken.reason}`
      : `ok      archive ${file} (${r.header.tenantId}): ${r.records} records, seq ${r.header.startSeq + 1}-${r.header.endSeq}, ends at ${r.header.endHash}`,
  );
  if (r.firstBroken) process.exitCode = 1;
}
if (values.archive && !values.tenant) process.exit(process.exitCode ?? 0);
const url = process.env.SERVICE_DATABASE_URL ?? process.env.DATABASE_URL;
if (!url) {
  console.error('audit:verify: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)');
  process.exit(2);
}
const pool = createPool({ connectionString: url, applicationName: 'audit-verify', ...COMMAND_POOL_OPTIONS });
try {
  const repo = createRecordRepository(pool);
  const tenants = values.tenant ? [values.tenant] : await repo.tenants();
  let broken = 0;
  for (const tenant of tenants) {
    const r = await repo.verify(tenant);
    if (r.firstBroken) {
      broken++;
      out(
        `BROKEN  ${tenant}: ${r.records} records checked; first broken link seq ${r.firstBroken.seq}${r.firstBroken.id ? ` (record ${r.firstBroken.id})` : ''}: ${r.firstBroken.reason}`,
      );
    } else out(`ok      ${tenant}: ${r.records} records`);
  }
  out(`${tenants.length} chain(s) checked, ${broken} broken`);
  process.exitCode = broken > 0 ? 1 : (process.exitCode ?? 0);
} finally {
  await pool.end();
}
