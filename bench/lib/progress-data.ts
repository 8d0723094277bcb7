/**
 * Data and drivers shared by the progress benchmarks (progress.bench.ts, analytics.bench.ts): sessions bulk-loaded
 * into the read model, and a backlog of events drained by service processes.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { AGENT_WELCOME_STEPS, TENANT_SETUP_STEPS } from '../../packages/contracts/src/steps.js';
import { countRows, interleave, seededRandom, serviceEnv, ServiceProcess, withStatusEvent } from '../../services/progress/test/fixtures.js';
import { ALL_TENANT_STEPS, simulateSession, startHarness, type ProgressHarness } from '../../services/progress/test/helpers.js';

const EVENTS_PER_SESSION = 10;
const sleep = (n: number) => new Promise((r) => setTimeout(r, n));

export /** One tenant's sessions straight into the read model: statuses 40/30/20/10 % completed/active/paused/abandoned, a quarter agents. */
async function loadTenant(h: ProgressHarness, tenantId: string, count: number, secondsApart = 37): Promise<void> {
  const client = await h.db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      `CREATE TEMP TABLE shape ON COMMIT DROP AS
       SELECT i, 'bs-' || $1 || '-' || i AS session_id, type, status, catalog, cardinality(catalog) AS n,
         CASE WHEN status = 'completed' THEN cardinality(catalog) ELSE 1 + i % (cardinality(catalog) - 1) END AS done,
         timestamptz '2026-01-01T00:00:00Z' + i * $5 * interval '1 second' AS started_at
       FROM (
         SELECT i,
           CASE WHEN i % 4 = 0 THEN 'agent_welcome' ELSE 'tenant_setup' END AS type,
           CASE WHEN i % 10 < 4 THEN 'completed' WHEN i % 10 < 7 THEN 'active' WHEN i % 10 < 9 THEN 'paused' ELSE 'abandoned' END AS status,
           CASE WHEN i % 4 = 0 THEN $3::text[] ELSE $4::text[] END AS catalog
         FROM generate_series(1, $2::int) i
       ) g`,
      [tenantId, count, AGENT_WELCOME_STEPS.map((s) => s.id), TENANT_SETUP_STEPS.map((s) => s.id), secondsApart],
    );
    await client.query(
      `INSERT INTO progress.projections (session_id, tenant_id, user_id, type, status, completed_steps, skipped_steps, current_step,
         progress_percentage, estimated_time_remaining, estimated_completion, started_at, last_event_at, completed_at, applied_seq, out_seq)
       SELECT session_id, $1, 'bu-' || i, type, status, catalog[1:done], '{}', CASE WHEN done < n THEN catalog[done + 1] END,
         round(done * 100.0 / n)::int, (n - done) * 8, NULL, started_at, started_at + done * interval '6 minutes',
         CASE WHEN status = 'completed' THEN started_at + (done * 6 + i % 50) * interval '1 minute' END, done + 1, done + 2
       FROM shape`,
      [tenantId],
    );
    await client.query(
      `INSERT INTO progress.step_timings (session_id, tenant_id, step_id, reached_at, completed_at, skipped_at)
       SELECT s.session_id, $1, s.catalog[k], s.started_at + (k - 1) * interval '6 minutes',
         CASE WHEN k <= s.done AND NOT (k > 2 AND (s.i + k) % 7 = 0) THEN s.started_at + ((k - 1) * 6 + 2 + (s.i * k) % 9) * interval '1 minute' END,
         CASE WHEN k <= s.done AND k > 2 AND (s.i + k) % 7 = 0 THEN s.started_at + k * interval '6 minutes' END
       FROM shape s, generate_series(1, LEAST(s.done + 1, s.n)) k`,
      [tenantId],
    );
    await client.query(
      `INSERT INTO progress.milestones (session_id, tenant_id, threshold, title, reached_at)
       SELECT s.session_id, $1, m.threshold, m.title, s.started_at + interval '1 hour'
       FROM shape s JOIN (VALUES (25, 'Getting Started'), (50, 'Halfway There'), (75, 'Almost Done'), (100, 'Completed')) m(threshold, title)
         ON round(s.done * 100.0 / s.n) >= m.threshold`,
      [tenantId],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

/** 10 events per session: started, welcome, 8 more (steps, skips, a pause, a completion). */
export function backlogFlow(i: number) {
  const base = {
    sessionId: `bb-${i}`,
    tenantId: `bb-t${i % 8}`,
    userId: `bb-u${i}`,
    startedAt: new Date(Date.UTC(2026, 0, 5, 9, i % 600)),
    minutesPerEvent: 1 + (i % 7),
  };
  switch (i % 3) {
    case 0:
      return simulateSession({ ...base, steps: ALL_TENANT_STEPS.slice(0, 8) });
    case 1:
      return simulateSession({
        ...base,
        type: 'agent_welcome',
        steps: ['profile_setup', 'team_assignment', 'permissions_overview', 'feature_tour', 'test_ticket', 'quick_start', 'notification_preferences'],
        complete: true,
      });
    default:
      return withStatusEvent(
        simulateSession({
          ...base,
          steps: [
            'organization_setup',
            'skip:channel_configuration',
            'knowledge_base',
            'team_management',
            'skip:payment_setup',
            'data_import',
            'customer_portal',
          ],
        }),
        'session.paused',
        3,
      );
  }
}

export async function projectionThroughput(instances: number, backlogSessions: number, env: Record<string, string> = {}) {
  const h = await startHarness({ env: { CONSUME_EVENTS: 'false' } });
  const processes: ServiceProcess[] = [];
  try {
    const random = seededRandom(42);
    const events = interleave(
      Array.from({ length: backlogSessions }, (_, i) => backlogFlow(i)),
      random,
    );
    for (let i = 0; i < events.length; i += 1000) await h.publish(events.slice(i, i + 1000));
    for (let i = 0; i < instances; i++) processes.push(new ServiceProcess(serviceEnv(h.db, h.nats, env)));
    // The clock starts at the first applied event, so process start-up (tsx, migrations check) is not counted.
    let t0 = 0;
    let n0 = 0;
    for (;;) {
      const n = await countRows(h.db.pool, 'inbox');
      if (n > 0) {
        t0 = performance.now();
        n0 = n;
        break;
      }
      await sleep(20);
    }
    // Rate per quarter of the backlog: a falling rate would mean per-event cost grows with the tables.
    const quarters: number[] = [];
    let mark = { t: t0, n: n0 };
    const deadline = Date.now() + 600_000;
    while ((await countRows(h.db.pool, 'projections', `applied_seq = ${EVENTS_PER_SESSION}`)) < backlogSessions) {
      if (Date.now() > deadline) throw new Error(`backlog not drained:\n${processes.map((p) => p.log).join('\n')}`);
      const n = await countRows(h.db.pool, 'inbox');
      if (n >= ((quarters.length + 1) * events.length) / 4 && quarters.length < 3) {
        const now = performance.now();
        quarters.push((n - mark.n) / ((now - mark.t) / 1000));
        mark = { t: now, n };
      }
      await sleep(50);
    }
    const end = performance.now();
    quarters.push((events.length - mark.n) / ((end - mark.t) / 1000));
    const seconds = (end - t0) / 1000;
    return { instances, events: events.length, seconds, perSecond: (events.length - n0) / seconds, quarters, load: loadavg()[0]! };
  } finally {
    await Promise.all(processes.map((p) => p.kill('SIGTERM')));
    await h.close();
  }
}
