/**
 * Audit retention at scale: one tenant with N records (appended through the service's own append path), then the
 * retention command, in its own process as an operator runs it, archives and deletes all of them while the audit
 * service keeps appending that tenant's and another tenant's new events from NATS. Prints how long retention took, the
 * archive's size, the command's peak memory, how late the live appends were meanwhile (recorded_at − occurred_at, per
 * second of the run), and whether every chain still verifies (the tenant's from the anchor retention left, the archive
 * on its own).
 *
 * Run: node --conditions=development --import tsx bench/audit-retention.bench.ts   (BENCH_AUDIT_RECORDS, default 300000)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { auditSubject } from '@glavito/contracts';
import { createPool } from '@glavito/db';
import { createTestNats, startPostgresServer, waitFor } from '@glavito/testkit';
import { jetstream } from '@nats-io/jetstream';
import { buildApp } from '../services/audit/src/app.js';
import { COMMAND_POOL_OPTIONS, verifyArchive, type RetentionResult } from '../services/audit/src/retention.js';
import { auditBenchConfig, benchAuditEvent } from './lib/audit.js';
import { fmt, summarize } from './lib/stats.js';

const N = Number(process.env.BENCH_AUDIT_RECORDS || 300_000);
const BIG = 'tenant_big';
const OTHER = 'tenant_other';
/** One live event every this many ms, alternating the two tenants, from before retention starts until it ends. */
const LIVE_EVERY_MS = 20;

const server = await startPostgresServer();
const nats = await createTestNats();
const config = auditBenchConfig(server.url, nats);
const app = await buildApp(config, { logger: false });
await app.ready();
const admin = createPool({ connectionString: server.url, applicationName: 'audit-retention-bench', ...COMMAND_POOL_OPTIONS });
const archiveDir = mkdtempSync(path.join(os.tmpdir(), 'audit-retention-bench-'));

// 1. The tenant's history, through the service's append (hash chain, heads), in batches as the consumer makes them.
const fillFrom = Date.now();
for (let i = 0; i < N; i += 5_000) await app.recordRepository.append(Array.from({ length: Math.min(5_000, N - i) }, (_, k) => benchAuditEvent(BIG, i + k)));
await admin.query('ANALYZE audit.records');
const fillSeconds = (Date.now() - fillFrom) / 1000;
// Everything appended so far is older than the cutoff; every live event below is newer.
await new Promise((r) => setTimeout(r, 50));
const cutoff = new Date();

// 2. Live events from NATS, through the service's consumer, before and during retention.
const js = jetstream(nats.nc);
let live = 0;
let stopLive = false;
const liveLoop = (async () => {
  while (!stopLive) {
    const e = benchAuditEvent(live % 2 === 0 ? BIG : OTHER, N + live);
    live++;
    await js.publish(auditSubject(nats.auditPrefix, e), JSON.stringify(e), { msgID: e.id });
    await new Promise((r) => setTimeout(r, LIVE_EVERY_MS));
  }
})();
await new Promise((r) => setTimeout(r, 3_000));

// 3. Retention in a process of its own (the command's pool and function, with this run's exact cutoff), its peak
// memory read from /proc as it exits.
const auditDir = path.resolve(import.meta.dirname, '../services/audit');
const script = `
  import { createPool } from '@glavito/db';
  import { COMMAND_POOL_OPTIONS, runRetention } from ${JSON.stringify(path.join(auditDir, 'src/retention.ts'))};
  import { readFileSync } from 'node:fs';
  const pool = createPool({ connectionString: process.env.DATABASE_URL, applicationName: 'audit-retention', ...COMMAND_POOL_OPTIONS });
  const results = await runRetention(pool, { cutoff: new Date(process.env.CUTOFF), archiveDir: process.env.ARCHIVE_DIR, tenant: process.env.TENANT });
  await pool.end();
  const peak = /VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  process.stdout.write(JSON.stringify({ results, peakRssKb: Number(peak) }));
`;
const retentionFrom = new Date();
const command = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', '--input-type=module', '-e', script], {
  cwd: auditDir,
  env: { ...process.env, DATABASE_URL: server.url, CUTOFF: cutoff.toISOString(), ARCHIVE_DIR: archiveDir, TENANT: BIG },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let output = '';
command.stdout.on('data', (d: Buffer) => (output += d.toString()));
const code = await new Promise<number | null>((resolve) => command.once('exit', resolve));
const retentionTo = new Date();
if (code !== 0) throw new Error(`retention exited with ${code}: ${output}`);
const { results, peakRssKb } = JSON.parse(output) as { results: RetentionResult[]; peakRssKb: number };
await new Promise((r) => setTimeout(r, 2_000));
stopLive = true;
await liveLoop;
await waitFor(
  async () => Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM audit.records WHERE recorded_at >= $1', [cutoff])).rows[0]!.n) === live,
  {
    timeoutMs: 60_000,
    message: `${live} live records`,
  },
);

// 4. What it did, and what the live appends saw.
const r = results[0]!;
const lag = async (from: Date, to: Date) =>
  (
    await admin.query<{ ms: number }>(
      `SELECT extract(epoch FROM recorded_at - occurred_at) * 1000 AS ms FROM audit.records WHERE occurred_at >= $1 AND occurred_at < $2 AND recorded_at >= $3`,
      [from, to, cutoff],
    )
  ).rows.map((x) => Number(x.ms));
const before = summarize(await lag(cutoff, retentionFrom));
const during = summarize(await lag(retentionFrom, retentionTo));
const seconds = (retentionTo.getTime() - retentionFrom.getTime()) / 1000;
const perSecond: string[] = [];
for (let t = 0; t < seconds; t++) {
  const from = new Date(retentionFrom.getTime() + t * 1000);
  perSecond.push(fmt(summarize(await lag(from, new Date(Math.min(from.getTime() + 1000, retentionTo.getTime())))).max, 0));
}
const left = Number(
  (await admin.query<{ n: string }>('SELECT count(*) AS n FROM audit.records WHERE tenant_id = $1 AND recorded_at < $2', [BIG, cutoff])).rows[0]!.n,
);
const archive = r.archive ? await verifyArchive(r.archive) : null;
const chains = await Promise.all([BIG, OTHER].map(async (t) => ({ t, broken: (await app.recordRepository.verify(t)).firstBroken })));
const mb = (b: number) => (b / 1024 / 1024).toFixed(0);

console.log(`\naudit retention, ${N} records of one tenant (filled in ${fillSeconds.toFixed(0)} s; load ${os.loadavg()[0]!.toFixed(2)})\n`);
console.log(
  '| records archived and deleted | retention (its process, start to exit) | records/s | archive | peak RSS of the command | left older than the cutoff |',
);
console.log('| --- | --- | --- | --- | --- | --- |');
console.log(
  `| ${r.archived} | ${seconds.toFixed(1)} s | ${(r.archived / seconds).toFixed(0)} | ${r.archive ? `${mb(statSync(r.archive).size)} MB` : '–'} | ${mb(peakRssKb * 1024)} MB | ${left} |`,
);
console.log(`\nLive appends (one event every ${LIVE_EVERY_MS} ms, two tenants), recorded_at − occurred_at, ms:\n`);
console.log('| window | events | p50 | p99 | max |');
console.log('| --- | --- | --- | --- | --- |');
console.log(`| 3 s before retention | ${before.n} | ${fmt(before.p50)} | ${fmt(before.p99)} | ${fmt(before.max)} |`);
console.log(`| during retention | ${during.n} | ${fmt(during.p50)} | ${fmt(during.p99)} | ${fmt(during.max)} |`);
console.log(`\nSlowest live append in each second of the retention, ms: ${perSecond.join(' ')}`);
console.log(
  `\nChains: ${chains.map((c) => `${c.t} ${c.broken ? `broken at ${c.broken.seq}` : 'verifies'}`).join(', ')}; archive ${
    archive ? `${archive.records} records, ${archive.firstBroken ? `broken at ${archive.firstBroken.seq}` : 'verifies on its own'}` : '–'
  }.`,
);

await app.close();
await admin.end();
await nats.cleanup();
await server.cleanup();
rmSync(archiveDir, { recursive: true, force: true });
