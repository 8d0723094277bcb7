/**
 * Step save through the gateway vs pgbench running the same transaction (version-checked JSONB update +
 * outbox insert in one statement) on the same database: how close the HTTP path gets to the database.
 * Only the gateway and the session service run (plus the session outbox relay publishing to NATS): the
 * event consumers are other services that run on other nodes in production; on this 2-core machine they
 * would compete for the same cores (see RESULTS.md for the figure with everything running).
 * Run: node --conditions=development --import tsx bench/step-save.bench.ts
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { mintToken } from '@glavito/auth';
import { createTestDatabase, createTestNats, TEST_JWT_SECRET } from '@glavito/testkit';
import { startService } from '../tests/e2e/test/system.js';
import { fmt, table } from './lib/stats.js';

const DURATION = Number(process.env.BENCH_SECONDS || 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 32);
const SESSIONS = Number(process.env.BENCH_SESSIONS || 200);

const PGBENCH_SQL = `\\set n random(1, ${SESSIONS})
WITH s AS (SELECT id FROM public.bench_ids WHERE n = :n),
upd AS (
  UPDATE session.sessions SET step_data = jsonb_set(step_data, ARRAY['organization_setup'], '{"companyName":"Bench Co","primaryColor":"#102030"}'::jsonb, true),
    version = version + 1, event_seq = event_seq + 1, last_activity_at = now()
  WHERE id = (SELECT id FROM s) RETURNING id
)
INSERT INTO session.outbox (id, subject, payload) SELECT gen_random_uuid(), 'bench.' || id, '{"bench":true}'::jsonb FROM upd;
`;

export async function benchStepSave() {
  const db = await createTestDatabase();
  const nats = await createTestNats();
  const session = await startService('session', {
    JWT_SECRET: TEST_JWT_SECRET,
    DATABASE_URL: db.url,
    NATS_URL: nats.url,
    EVENT_STREAM: nats.streamName,
    EVENT_SUBJECT_PREFIX: nats.subjectPrefix,
    RPC_SUBJECT_PREFIX: nats.rpcPrefix,
    DEAD_LETTER_PREFIX: nats.dlqPrefix,
    STEP_DATA_ENCRYPTION_KEY: Buffer.alloc(32, 5).toString('base64'),
    LOG_LEVEL: 'warn',
  });
  const gateway = await startService('gateway', { JWT_SECRET: TEST_JWT_SECRET, SESSION_URL: session.url, RATE_LIMIT_MAX: '100000000', LOG_LEVEL: 'warn' });
  const sys = {
    gateway,
    db,
    token: (u: { userId: string; tenantId: string; roles?: string[] }) => mintToken({ secret: TEST_JWT_SECRET, userId: u.userId, tenantId: u.tenantId, roles: u.roles ?? ['agent'] }),
    async stop() {
      await gateway.stop();
      await session.stop();
      await nats.cleanup();
      await db.drop();
    },
  };
  try {
    const token = sys.token({ userId: 'bench-admin', tenantId: 'bench-tenant', roles: ['admin'] });
    const ids: string[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      // Each session belongs to its own admin user (one open session per user and flow).
      const own = sys.token({ userId: `bench-admin-${i}`, tenantId: 'bench-tenant', roles: ['admin'] });
      const r = await fetch(`${sys.gateway.url}/onboarding/start`, { method: 'POST', headers: { authorization: `Bearer ${own}`, 'content-type': 'application/json' }, body: '{}' });
      ids.push(((await r.json()) as { session: { id: string } }).session.id);
    }
    const body = JSON.stringify({ companyName: 'Bench Co', primaryColor: '#102030' });
    let k = 0;
    const http = await autocannon({
      url: sys.gateway.url,
      connections: CONNECTIONS,
      duration: DURATION,
      requests: [
        {
          method: 'PUT',
          setupRequest: (req) => ({ ...req, path: `/onboarding/step/${ids[k++ % ids.length]}/organization_setup` }),
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body,
        },
      ],
    });

    await sys.db.pool.query('CREATE TABLE public.bench_ids (n int primary key, id text not null)');
    await sys.db.pool.query('INSERT INTO public.bench_ids SELECT ordinality, id FROM unnest($1::text[]) WITH ORDINALITY AS t(id, ordinality)', [ids]);
    const script = path.join(tmpdir(), `glavito-step-save-${process.pid}.sql`);
    writeFileSync(script, PGBENCH_SQL);
    const out = execFileSync('pgbench', ['-n', '-c', String(CONNECTIONS), '-j', '2', '-T', String(DURATION), '-f', script, sys.db.url], { encoding: 'utf8' });
    const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? NaN);
    const saves = http.requests.average;
    return {
      rows: [
        { path: 'step save through the gateway', 'tx/s': fmt(saves, 0), 'p99 ms': http.latency.p99, errors: http.errors + http.non2xx },
        { path: 'pgbench, same SQL transaction', 'tx/s': fmt(tps, 0), 'p99 ms': '', errors: '' },
      ],
      ratio: saves / tps,
    };
  } finally {
    await sys.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchStepSave();
  console.log(table(r.rows));
  console.log(`\nstep save / pgbench: ${fmt(r.ratio, 2)} (target ≥ 0.5)`);
}
