/**
 * Audit consumer throughput: N audit events (spread over 50 tenants) published to the audit stream as fast as NATS
 * takes them, then the time until the audit service has appended every one to its tenant's chain. Target: ≥ 2,000
 * records/s on this machine (private PostgreSQL from the test kit; shared NATS). Run: node --conditions=development --import tsx bench/audit-consumer.bench.ts
 */
import os from 'node:os';
import { auditSubject } from '@glavito/contracts';
import { createTestNats, startPostgresServer, waitFor } from '@glavito/testkit';
import { jetstream } from '@nats-io/jetstream';
import { buildApp } from '../services/audit/src/app.js';
import { auditBenchConfig, benchAuditEvent } from './lib/audit.js';

const N = Number(process.env.BENCH_AUDIT_EVENTS || 20_000);
// A private PostgreSQL: the figure is the consumer's, not that of whatever else shares the machine's server.
const server = await startPostgresServer();
const db = { url: server.url };
const nats = await createTestNats();
const config = auditBenchConfig(db.url, nats);
const events = Array.from({ length: N }, (_, i) => benchAuditEvent(`tenant_${i % 50}`, i));
const js = jetstream(nats.nc);
// Published before the consumer starts: what it then measures is its own pace, not the publisher's.
for (let i = 0; i < N; i += 1000)
  await Promise.all(events.slice(i, i + 1000).map((e) => js.publish(auditSubject(nats.auditPrefix, e), JSON.stringify(e), { msgID: e.id })));
const load = os
  .loadavg()
  .map((l) => l.toFixed(2))
  .join(' / ');
const t0 = Date.now();
const app = await buildApp(config, { logger: false });
await app.ready();
const count = async () => Number((await app.pool.query<{ n: string }>('SELECT count(*) AS n FROM audit.records')).rows[0]!.n);
await waitFor(async () => (await count()) === N, { timeoutMs: 600_000, intervalMs: 100, message: `${N} records` });
const seconds = (Date.now() - t0) / 1000;
const broken = [];
for (const t of await app.recordRepository.tenants()) if ((await app.recordRepository.verify(t)).firstBroken) broken.push(t);
console.log(
  `| audit records appended | ${N} | ${seconds.toFixed(1)} s (incl. boot) | ${(N / seconds).toFixed(0)} records/s | target ≥ 2,000/s | chains broken: ${broken.length} | load ${load} |`,
);
await app.close();
await nats.cleanup();
await server.cleanup();
