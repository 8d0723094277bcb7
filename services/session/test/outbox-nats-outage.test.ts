import { rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { SessionWithProgressSchema, StepSaveResponseSchema } from '@glavito/contracts';
import { readStream, startNatsServer, waitFor, type NatsServer } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, TENANT_STEP_DATA, type SessionHarness } from './helpers.js';

// A private nats-server, so this file can kill the broker without disturbing other test files.
let server: NatsServer;
let serverUp = false;
let h: SessionHarness;

beforeAll(async () => {
  server = await startNatsServer();
  serverUp = true;
  // The service connects and creates its stream at boot, i.e. before the outage.
  h = await startHarness({ natsUrl: server.url });
});

afterAll(async () => {
  // Draining a connection to a dead server would hang: bring it back before closing.
  if (server && !serverUp) server = await startNatsServer({ port: server.port, storeDir: server.storeDir });
  await h?.close();
  await server?.stop();
  if (server) await rm(server.storeDir, { recursive: true, force: true });
});

const admin = { userId: 'admin-outage', tenantId: 'tenant-outage', roles: ['admin'] };
const SAVE_BUDGET_MS = 3000;

async function unpublished(): Promise<number> {
  const { rows } = await h.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM session.outbox WHERE published_at IS NULL');
  return Number(rows[0]!.n);
}

async function save(sessionId: string, stepId: string, data: Record<string, unknown>) {
  const t0 = performance.now();
  const r = await h.app.inject({ method: 'PUT', url: `/onboarding/step/${sessionId}/${stepId}`, headers: bearer(admin), payload: data });
  const ms = performance.now() - t0;
  expect(r.statusCode, `${stepId}: ${r.body}`).toBe(200);
  StepSaveResponseSchema.parse(r.json());
  return ms;
}

const step = (id: string) => {
  const found = TENANT_STEP_DATA.find(([stepId]) => stepId === id);
  if (!found) throw new Error(`no test data for ${id}`);
  return found[1];
};

describe('outbox relay across a NATS outage', () => {
  it('keeps saving while NATS is down and publishes every event exactly once when it is back', async () => {
    const start = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: bearer(admin), payload: {} });
    expect(start.statusCode, start.body).toBe(201);
    const sessionId = SessionWithProgressSchema.parse(start.json()).session.id;
    await save(sessionId, 'organization_setup', step('organization_setup'));
    await save(sessionId, 'channel_configuration', step('channel_configuration'));

    // Baseline: with the broker up everything goes out (start = 2 events, then 1 per save).
    await waitFor(async () => (await unpublished()) === 0 && (await readStream(h.nats)).length === 4, { message: 'events before the outage' });

    await server.kill();
    serverUp = false;

    const duringOutage = ['ai_configuration', 'knowledge_base', 'payment_setup', 'team_management', 'workflow_configuration'];
    for (const id of duringOutage) {
      const ms = await save(sessionId, id, step(id));
      expect(ms, `save of ${id} took ${Math.round(ms)} ms with NATS down`).toBeLessThan(SAVE_BUDGET_MS);
    }
    // Saving a step again is a different event (step.updated): it must queue up too.
    expect(await save(sessionId, 'organization_setup', { ...step('organization_setup'), companyName: 'Acme Renamed' })).toBeLessThan(SAVE_BUDGET_MS);

    // Give the relay time to try (and fail) a few times: nothing may be marked sent.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await unpublished()).toBe(duringOutage.length + 1);

    // Same port and store dir: the stream (and its dedupe window) survives the restart.
    server = await startNatsServer({ port: server.port, storeDir: server.storeDir });
    serverUp = true;

    await waitFor(async () => (await unpublished()) === 0, { timeoutMs: 30_000, intervalMs: 200, message: 'outbox drained after NATS came back' });

    const { rows } = await h.db.pool.query<{ id: string; payload: { sessionSeq: number; type: string } }>(
      "SELECT id, payload FROM session.outbox WHERE payload->>'type' <> 'audit.recorded' ORDER BY seq",
    );
    expect(rows).toHaveLength(4 + duringOutage.length + 1);
    const events = await waitFor(async () => {
      const all = await readStream(h.nats);
      return all.length >= rows.length ? all : null;
    });

    const streamIds = events.map((e) => e.event.id);
    expect(new Set(streamIds).size, 'no duplicate messages in the stream').toBe(streamIds.length);
    expect(streamIds).toHaveLength(rows.length);
    expect(new Set(streamIds)).toEqual(new Set(rows.map((r) => r.id)));

    const mine = events.filter((e) => e.event.sessionId === sessionId).sort((a, b) => a.event.sessionSeq - b.event.sessionSeq);
    expect(mine.map((e) => e.event.sessionSeq)).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
    expect(mine.map((e) => e.event.type)).toEqual(['session.started', ...Array<string>(1 + 2 + duringOutage.length).fill('step.completed'), 'step.updated']);
    for (const e of events) expect(e.subject.startsWith(`${h.nats.subjectPrefix}.${admin.tenantId}.${sessionId}.`)).toBe(true);
  });

  it('re-publishing rows whose "sent" mark was lost adds nothing to the stream (msgID dedupe)', async () => {
    // An outage alone makes the relay fail before the broker stores anything; the case msgID exists for
    // is a relay that published and died before its UPDATE committed. Undoing the mark replays exactly that.
    const before = await readStream(h.nats);
    expect(before.length).toBeGreaterThan(0);
    const reset = await h.db.pool.query("UPDATE session.outbox SET published_at = NULL WHERE payload->>'type' <> 'audit.recorded'");
    expect(reset.rowCount).toBe(before.length);
    h.app.outboxRelay.wake();
    await waitFor(async () => (await unpublished()) === 0, { timeoutMs: 15_000, message: 'outbox re-published' });

    const after = await readStream(h.nats);
    expect(after.map((e) => [e.streamSeq, e.event.id])).toEqual(before.map((e) => [e.streamSeq, e.event.id]));
  });
});
