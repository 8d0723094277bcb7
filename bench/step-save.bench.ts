/**
 * Step save through the gateway vs pgbench running the statement the session service runs for it, on the
 * same database: how close the HTTP path gets to the database.
 *
 * The pgbench arm is the service's own statement with the service's own parameters: the bench makes one save
 * with the session repository and the save rule (`createSessionRepository`, `saveStep`) over a pool that
 * records what it sends, and pgbench replays that text and those values (prepared, like the service). Three
 * values pgbench must vary per transaction: the session (each client its own), the version (the client
 * counts its own saves, so the version check passes as the service's does) and the outbox row's id (a
 * primary key: `gen_random_uuid()` where the service sends its uuid). Its outbox rows are inserted with the
 * service's `relay_after` (5 s ahead), so no NOTIFY fires, as for the service's saves.
 *
 * Only the gateway and the session service run (plus the session outbox relay publishing to NATS): the
 * event consumers are other services; see the push benchmark for everything running. Postgres and NATS are
 * private servers of this run, so the CPU read for them is this benchmark's alone.
 * Run: pnpm bench step-save [--baseline <commit>]   (BENCH_SECONDS, BENCH_WARMUP_SECONDS, BENCH_CONNECTIONS, BENCH_SESSIONS, BENCH_ROUNDS)
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { mintToken } from '@glavito/auth';
import { createTestDatabase, createTestNats, startNatsServer, startPostgresServer, TEST_JWT_SECRET } from '@glavito/testkit';
import pg from 'pg';
import { startService } from '../tests/e2e/test/system.js';
import { createSessionRepository } from '../services/session/src/repositories/session-repository.js';
import { saveStep } from '../services/session/src/domain/session-rules.js';
import { createSecretBox } from '../services/session/src/domain/secret-box.js';
import { arms, type Checkout } from './lib/baseline.js';
import { childNamed, cpuMeter, type CpuTargets } from './lib/cpu.js';
import { fmt, table } from './lib/stats.js';

const DURATION = Number(process.env.BENCH_SECONDS || 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS || 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 32);
const SESSIONS = Number(process.env.BENCH_SESSIONS || 200);
const ENCRYPTION_KEY = Buffer.alloc(32, 5).toString('base64');
const STEP = 'organization_setup';
const BODY = { companyName: 'Bench Co', primaryColor: '#102030' };

type Row = Record<string, string | number>;
const postmasterPid = (dataDir: string) => Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);

/** The text and values of the statement the session service runs for one save of `sessionId` (recorded, not rewritten). */
async function recordSave(pool: pg.Pool, subjectPrefix: string, sessionId: string, scope: { tenantId: string; userId: string; isAdmin: boolean }) {
  const sent: pg.QueryConfig[] = [];
  const recording = { query: (cfg: pg.QueryConfig) => (sent.push(cfg), pool.query(cfg)) } as unknown as pg.Pool;
  const repo = createSessionRepository(recording, { subjectPrefix, publishCommitted: () => {} });
  const box = createSecretBox(ENCRYPTION_KEY);
  await repo.mutate(sessionId, scope, 'bench-record', (s) => saveStep(s, STEP, BODY, new Date().toISOString(), box.seal).transition);
  const write = sent.find((q) => /^WITH upd AS \(\s*UPDATE session\.sessions/.test(q.text));
  if (!write) throw new Error(`no step write among the recorded statements: ${sent.map((q) => q.text.slice(0, 40)).join(' | ')}`);
  return write;
}

/** A pgbench script replaying that statement: each client its own session, version counted, a fresh outbox id. */
function pgbenchScript(write: pg.QueryConfig): { script: string; defines: string[] } {
  const values = write.values ?? [];
  const defines: string[] = ['k=0'];
  let sql = write.text.replace(/\$(\d+)/g, (_m, n: string) => {
    const i = Number(n);
    if (i === 1) return ':sid';
    if (i === 2) return ':ver';
    if (i === 14) return 'ARRAY[gen_random_uuid()]';
    const v = values[i - 1];
    if (v === null || v === undefined) return 'NULL';
    defines.push(`p${i}=${String(prepareValue(v))}`);
    return `:p${i}`;
  });
  sql = sql.replace(/\s+/g, ' ').trim();
  const script = [
    '\\if :k = 0',
    'SELECT s.id AS sid, s.version AS ver0 FROM public.bench_ids b JOIN session.sessions s ON s.id = b.id WHERE b.n = :client_id + 1 \\gset',
    '\\endif',
    '\\set ver :ver0 + :k',
    '\\set k :k + 1',
    `${sql};`,
    '',
  ].join('\n');
  return { script, defines };
}

/** node-postgres's own conversion of a value to its text parameter (arrays as array literals), so pgbench sends the same bytes. */
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (v: unknown) => unknown };

async function httpArm(checkout: Checkout, round: number, servers: { pgRoot: number; natsPid: number }) {
  const db = await createTestDatabase();
  const nats = await createTestNats();
  const session = await startService(
    'session',
    {
      JWT_SECRET: TEST_JWT_SECRET,
      DATABASE_URL: db.url,
      NATS_URL: nats.url,
      EVENT_STREAM: nats.streamName,
      EVENT_SUBJECT_PREFIX: nats.subjectPrefix,
      RPC_SUBJECT_PREFIX: nats.rpcPrefix,
      DEAD_LETTER_PREFIX: nats.dlqPrefix,
      STEP_DATA_ENCRYPTION_KEY: ENCRYPTION_KEY,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL || 'info',
    },
    undefined,
    checkout.root,
  );
  const gateway = await startService(
    'gateway',
    { JWT_SECRET: TEST_JWT_SECRET, SESSION_URL: session.url, RATE_LIMIT_MAX: '100000000', LOG_LEVEL: process.env.BENCH_LOG_LEVEL || 'info' },
    undefined,
    checkout.root,
  );
  try {
    const ids: string[] = [];
    const tokens: string[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      // Each session belongs to its own admin user (one open session per user and flow).
      const token = mintToken({ secret: TEST_JWT_SECRET, userId: `bench-admin-${i}`, tenantId: 'bench-tenant', roles: ['admin'] });
      const r = await fetch(`${gateway.url}/onboarding/start`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      ids.push(((await r.json()) as { session: { id: string } }).session.id);
      tokens.push(token);
    }
    // Unmeasured first: pools connect, statements get prepared, V8 optimises the hot paths.
    const warmup = (seconds: number) => {
      let w = 0;
      return autocannon({
        url: gateway.url,
        connections: CONNECTIONS,
        duration: seconds,
        requests: [
          {
            method: 'PUT',
            setupRequest: (req) => ({
              ...req,
              path: `/onboarding/step/${ids[w % ids.length]}/${STEP}`,
              headers: { ...req.headers, authorization: `Bearer ${tokens[w++ % ids.length]}` },
            }),
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(BODY),
          },
        ],
      });
    };
    await warmup(WARMUP_SECONDS);
    const processes: CpuTargets = {
      gateway: gateway.child.pid!,
      session: session.child.pid!,
      postgres: { tree: servers.pgRoot },
      'nats-server': servers.natsPid,
      'load generator': process.pid,
    };
    const meter = cpuMeter(processes);
    let k = 0;
    const http = await autocannon({
      url: gateway.url,
      connections: CONNECTIONS,
      duration: DURATION,
      requests: [
        {
          method: 'PUT',
          setupRequest: (req) => {
            const i = k++ % ids.length;
            return { ...req, path: `/onboarding/step/${ids[i]}/${STEP}`, headers: { ...req.headers, authorization: `Bearer ${tokens[i]}` } };
          },
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(BODY),
        },
      ],
    });
    const saves = http.requests.total;
    const cpu = meter.stop(saves);

    // The statement the service runs, recorded from its repository, then replayed by pgbench on the same database.
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const write = await recordSave(pool, nats.subjectPrefix, ids[0]!, { tenantId: 'bench-tenant', userId: 'bench-admin-0', isAdmin: true });
    await pool.query('CREATE TABLE public.bench_ids (n int primary key, id text not null)');
    await pool.query('INSERT INTO public.bench_ids SELECT ordinality, id FROM unnest($1::text[]) WITH ORDINALITY AS t(id, ordinality)', [ids]);
    await pool.end();
    const { script, defines } = pgbenchScript(write);
    const file = path.join(tmpdir(), `glavito-step-save-${process.pid}.sql`);
    writeFileSync(file, script);
    const pgMeter = cpuMeter({ postgres: { tree: servers.pgRoot } });
    const bench = await pgbench([
      '-n',
      '-M',
      'prepared',
      '-c',
      String(Math.min(CONNECTIONS, SESSIONS)),
      '-j',
      '2',
      '-T',
      String(DURATION),
      ...defines.flatMap((d) => ['-D', d]),
      '-f',
      file,
      db.url,
    ]);
    const tps = Number(/tps = ([\d.]+)/.exec(bench.out)?.[1] ?? NaN);
    const txs = Number(/number of transactions actually processed: (\d+)/.exec(bench.out)?.[1] ?? NaN);
    const failed = Number(/number of failed transactions: (\d+)/.exec(bench.out)?.[1] ?? 0);
    const pgCpu = pgMeter.stop(txs);
    const rowsUpdated = (await db.pool.query<{ n: string }>("SELECT count(*) AS n FROM session.outbox WHERE subject LIKE '%.step.updated'")).rows[0]!.n;
    return {
      rows: [
        {
          round,
          commit: checkout.label,
          path: 'step save through the gateway',
          'tx/s': fmt(saves / DURATION, 0),
          'p50 / p99 ms': `${http.latency.p50} / ${http.latency.p99}`,
          errors: http.errors + http.non2xx,
        },
        { round, commit: checkout.label, path: 'pgbench, the service statement', 'tx/s': fmt(tps, 0), 'p50 / p99 ms': '', errors: failed },
      ],
      cpuRows: <Row[]>[
        { round, commit: checkout.label, path: 'step save through the gateway', ...cpu, pgbench: '', total: Object.values(cpu).reduce((a, b) => a + b, 0) },
        {
          round,
          commit: checkout.label,
          path: 'pgbench, the service statement',
          gateway: '',
          session: '',
          postgres: pgCpu.postgres!,
          'nats-server': '',
          'load generator': '',
          pgbench: Math.round((bench.cpuMs * 1000) / txs),
          total: pgCpu.postgres! + Math.round((bench.cpuMs * 1000) / txs),
        },
      ],
      ratio: saves / DURATION / tps,
      check: `${rowsUpdated} step.updated outbox rows written in total (HTTP saves + pgbench transactions: ${saves} + ${txs})`,
    };
  } finally {
    await gateway.stop();
    await session.stop();
    await nats.cleanup();
    await db.drop();
  }
}

/** Runs pgbench and reads its own CPU time (user + system) when it exits. */
function pgbench(args: string[]): Promise<{ out: string; cpuMs: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('pgbench', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    let cpuMs = 0;
    const timer = setInterval(() => {
      try {
        const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        cpuMs = (Number(f[11]) + Number(f[12])) * 10;
      } catch {
        // exited
      }
    }, 200);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearInterval(timer);
      if (code !== 0) reject(new Error(`pgbench exited ${code}:\n${out}`));
      else resolve({ out, cpuMs });
    });
  });
}

export async function benchStepSave() {
  const postgres = await startPostgresServer();
  const nats = await startNatsServer();
  const natsPid = childNamed(process.pid, 'nats-server');
  const env = { DATABASE_URL: process.env.DATABASE_URL, NATS_URL: process.env.NATS_URL };
  process.env.DATABASE_URL = postgres.url;
  process.env.NATS_URL = nats.url;
  const rows: Row[] = [];
  const cpuRows: Row[] = [];
  const ratios: Array<{ commit: string; ratio: number }> = [];
  const checks: string[] = [];
  try {
    for (const { round, checkout } of arms().runs) {
      process.stderr.write(`step-save: round ${round}, ${checkout.label}\n`);
      const r = await httpArm(checkout, round, { pgRoot: postmasterPid(postgres.dataDir), natsPid });
      rows.push(...r.rows);
      cpuRows.push(...r.cpuRows);
      ratios.push({ commit: checkout.label, ratio: r.ratio });
      checks.push(r.check);
    }
  } finally {
    Object.assign(process.env, env);
    await nats.stop();
    await postgres.cleanup();
  }
  return { rows, cpuRows, ratios, checks, pgbenchVersion: execFileSync('pgbench', ['--version'], { encoding: 'utf8' }).trim() };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchStepSave();
  console.log(table(r.rows));
  console.log(`\nCPU time per save (HTTP) or per transaction (pgbench) by process (µs):\n\n${table(r.cpuRows)}`);
  for (const x of r.ratios) console.log(`\nstep save / pgbench of the same statement, ${x.commit}: ${fmt(x.ratio, 2)} (target ≥ 0.5)`);
  console.log(`\n${r.checks.join('\n')}; ${r.pgbenchVersion}`);
}
