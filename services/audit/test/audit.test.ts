import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AuditListResponseSchema, AuditRecordSchema, AuditVerifyResponseSchema } from '@glavito/contracts';
import { createPool, urlForRole, type Pool } from '@glavito/db';
import { waitFor } from '@glavito/testkit';
import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecordRepository } from '../src/repositories/record-repository.js';
import { COMMAND_POOL_OPTIONS, runRetention, verifyArchive } from '../src/retention.js';
import { bearer, makeEvent, startHarness, type AuditHarness } from './helpers.js';

let h: AuditHarness;
const adminA = { userId: 'admin_1', tenantId: 'tenant_a', roles: ['admin'] };
const adminB = { userId: 'admin_9', tenantId: 'tenant_b', roles: ['admin'] };

const count = async (tenant: string, action?: string) =>
  Number(
    (await h.db.pool.query('SELECT count(*) AS n FROM audit.records WHERE tenant_id = $1 AND ($2::text IS NULL OR action = $2)', [tenant, action ?? null]))
      .rows[0].n,
  );

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('audit consumer', () => {
  it('records each published event once, with every field, chained per tenant', async () => {
    const ev = makeEvent({
      tenantId: 'tenant_c',
      action: 'session.force_complete',
      target: { type: 'session', id: 'sess-1' },
      details: { forced: true, missingSteps: ['a', 'b'] },
    });
    // Published twice (a relay re-publishing after a crash) and appended straight once more (a redelivery).
    await h.publish([ev]);
    await h.publish([ev]);
    await waitFor(async () => (await count('tenant_c')) === 1, { message: 'record stored' });
    expect(await h.app.recordRepository.append([ev])).toBe(0);
    expect(await count('tenant_c')).toBe(1);

    const { rows } = await h.db.pool.query('SELECT * FROM audit.records WHERE tenant_id = $1', ['tenant_c']);
    expect(rows[0]).toMatchObject({
      id: ev.id,
      seq: '1',
      actor_subject: 'admin_1',
      actor_roles: ['admin'],
      action: 'session.force_complete',
      target_type: 'session',
      target_id: 'sess-1',
      outcome: 'allowed',
      request_id: 'req-1',
      correlation_id: 'corr-1',
      client_ip: '203.0.113.7',
      user_agent: 'vitest',
      details: { forced: true, missingSteps: ['a', 'b'] },
      prev_hash: '0'.repeat(64),
    });
    expect(rows[0].hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keeps one unbroken chain per tenant when events arrive in bulk', async () => {
    const events = Array.from({ length: 300 }, (_, i) => makeEvent({ tenantId: i % 2 ? 'tenant_d' : 'tenant_e', details: { n: i } }));
    await h.publish(events);
    await waitFor(async () => (await count('tenant_d')) === 150 && (await count('tenant_e')) === 150, { timeoutMs: 20_000 });
    for (const t of ['tenant_d', 'tenant_e']) expect(await h.app.recordRepository.verify(t)).toEqual({ records: 150, firstBroken: null });
  });
});

describe('the service role', () => {
  it('may insert and read records, never update or delete them', async () => {
    const pool = createPool({ connectionString: urlForRole(h.db.url, 'audit_svc'), max: 1, applicationName: 'role-test' });
    try {
      await expect(pool.query('SELECT count(*) FROM audit.records')).resolves.toBeTruthy();
      await expect(pool.query("UPDATE audit.records SET action = 'x'")).rejects.toThrow(/permission denied/);
      await expect(pool.query('DELETE FROM audit.records')).rejects.toThrow(/permission denied/);
      await expect(pool.query('TRUNCATE audit.records')).rejects.toThrow(/permission denied/);
      await expect(pool.query('DELETE FROM audit.anchors')).rejects.toThrow(/permission denied/);
    } finally {
      await pool.end();
    }
  });
});

describe('GET /onboarding/audit', () => {
  beforeAll(async () => {
    await h.app.recordRepository.append([
      makeEvent({ action: 'session.start', actor: { subject: 'agent_1', roles: ['agent'] }, target: { type: 'session', id: 's1' } }),
      makeEvent({
        action: 'access.denied',
        actor: { subject: 'agent_1', roles: ['agent'] },
        outcome: { result: 'denied', code: '403' },
        target: { type: 'route', id: 'GET /onboarding/statistics' },
      }),
      makeEvent({ action: 'business_hours.update', occurredAt: new Date('2026-01-01T00:00:00Z') }),
      makeEvent({ tenantId: 'tenant_b', action: 'session.start' }),
    ]);
  });

  it('answers the tenant admin their own records, newest first, and records the read', async () => {
    const before = await count('tenant_a', 'audit.read');
    const res = await h.app.inject({
      method: 'GET',
      url: '/onboarding/audit?limit=2',
      headers: { ...bearer(adminA), 'user-agent': 'ua-test', 'x-forwarded-for': '198.51.100.4' },
    });
    expect(res.statusCode).toBe(200);
    const page = AuditListResponseSchema.parse(res.json());
    expect(page.items).toHaveLength(2);
    expect(page.items.every((r) => r.tenantId === 'tenant_a')).toBe(true);
    expect(page.items[0]!.seq).toBeGreaterThan(page.items[1]!.seq);
    expect(page.nextCursor).not.toBeNull();
    const next = AuditListResponseSchema.parse(
      (await h.app.inject({ method: 'GET', url: `/onboarding/audit?limit=2&cursor=${page.nextCursor}`, headers: bearer(adminA) })).json(),
    );
    expect(next.items[0]!.seq).toBeLessThan(page.items[1]!.seq);

    await waitFor(async () => (await count('tenant_a', 'audit.read')) >= before + 2, { message: 'the reads are audited' });
    const read = (await h.db.pool.query("SELECT * FROM audit.records WHERE tenant_id = 'tenant_a' AND action = 'audit.read' AND user_agent = 'ua-test'"))
      .rows[0];
    expect(read).toMatchObject({ actor_subject: 'admin_1', client_ip: '198.51.100.4', outcome: 'allowed', details: { limit: 2, cursor: null } });
  });

  it('filters by actor, action, outcome, target and time', async () => {
    const get = async (q: string) =>
      AuditListResponseSchema.parse((await h.app.inject({ method: 'GET', url: `/onboarding/audit?${q}`, headers: bearer(adminA) })).json()).items;
    expect((await get('actor=agent_1')).map((r) => r.action).sort()).toEqual(['access.denied', 'session.start']);
    expect((await get('outcome=denied')).map((r) => r.outcome)).toEqual([{ result: 'denied', code: '403' }]);
    expect(await get('action=session.start&targetType=session&targetId=s1')).toHaveLength(1);
    expect((await get('action=business_hours.update&to=2026-01-02T00:00:00Z')).map((r) => r.occurredAt)).toEqual(['2026-01-01T00:00:00.000Z']);
    expect(await get('action=business_hours.update&from=2026-01-01T00:00:01Z&to=2026-01-02T00:00:00Z')).toEqual([]);
  });

  it("never shows another tenant's records, refuses agents, and names bad filters", async () => {
    const b = AuditListResponseSchema.parse((await h.app.inject({ method: 'GET', url: '/onboarding/audit?limit=200', headers: bearer(adminB) })).json());
    expect(b.items.length).toBeGreaterThan(0);
    expect(b.items.every((r) => r.tenantId === 'tenant_b')).toBe(true);
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/audit', headers: bearer({ userId: 'agent_1', tenantId: 'tenant_a' }) })).statusCode).toBe(
      403,
    );
    expect((await h.app.inject({ method: 'GET', url: '/onboarding/audit' })).statusCode).toBe(401);
    const bad = await h.app.inject({ method: 'GET', url: '/onboarding/audit?action=nope&limit=0', headers: bearer(adminA) });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toMatch(/action/);
    expect(
      (await h.app.inject({ method: 'GET', url: '/onboarding/audit?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', headers: bearer(adminA) })).statusCode,
    ).toBe(400);
  });
});

describe('verification', () => {
  it('names the record a superuser changed behind the service (route and repository)', async () => {
    await h.app.recordRepository.append(Array.from({ length: 5 }, (_, i) => makeEvent({ tenantId: 'tenant_t', details: { n: i } })));
    const ok = AuditVerifyResponseSchema.parse(
      (await h.app.inject({ method: 'GET', url: '/onboarding/audit/verify', headers: bearer({ ...adminA, tenantId: 'tenant_t' }) })).json(),
    );
    expect(ok).toMatchObject({ tenantId: 'tenant_t', ok: true, firstBroken: null });

    const victim = (await h.db.pool.query("SELECT id FROM audit.records WHERE tenant_id = 'tenant_t' AND seq = 3")).rows[0].id;
    await h.db.pool.query("UPDATE audit.records SET actor_subject = 'someone_else' WHERE tenant_id = 'tenant_t' AND seq = 3");
    const bad = AuditVerifyResponseSchema.parse(
      (await h.app.inject({ method: 'GET', url: '/onboarding/audit/verify', headers: bearer({ ...adminA, tenantId: 'tenant_t' }) })).json(),
    );
    expect(bad).toMatchObject({ ok: false, firstBroken: { seq: 3, id: victim, reason: 'hash_mismatch' } });
  });

  it('sees a deleted record and a rewritten chain', async () => {
    await h.app.recordRepository.append(Array.from({ length: 4 }, () => makeEvent({ tenantId: 'tenant_u' })));
    await h.db.pool.query("DELETE FROM audit.records WHERE tenant_id = 'tenant_u' AND seq = 2");
    expect((await h.app.recordRepository.verify('tenant_u')).firstBroken).toMatchObject({ seq: 2, reason: 'seq_gap' });
    await h.app.recordRepository.append(Array.from({ length: 3 }, () => makeEvent({ tenantId: 'tenant_v' })));
    await h.db.pool.query("DELETE FROM audit.records WHERE tenant_id = 'tenant_v' AND seq = 3");
    expect((await h.app.recordRepository.verify('tenant_v')).firstBroken).toMatchObject({ seq: 3, reason: 'seq_gap' });
  });
});

describe('verification while records are appended', () => {
  it('a record appended between the pages of a verify is not a gap (the verify route writes one itself)', async () => {
    await h.app.recordRepository.append(Array.from({ length: 3 }, () => makeEvent({ tenantId: 'tenant_w' })));
    // The real database, with an append slipped in right after verify has read its last page of records.
    let appended = false;
    const interleaved = {
      async query(text: string, values?: unknown[]) {
        const res = await h.db.pool.query(text, values);
        if (!appended && /FROM audit\.records WHERE tenant_id/.test(text) && res.rows.length === 0) {
          appended = true;
          await h.app.recordRepository.append([makeEvent({ tenantId: 'tenant_w' })]);
        }
        return res;
      },
      connect: () => h.db.pool.connect(),
    } as unknown as Pool;
    const result = await createRecordRepository(interleaved).verify('tenant_w', 2);
    expect(appended).toBe(true);
    expect(result).toEqual({ records: 3, firstBroken: null });
    // The next verify covers the new record.
    expect(await h.app.recordRepository.verify('tenant_w')).toEqual({ records: 4, firstBroken: null });
  });
});

describe('retention', () => {
  it('archives then deletes the old prefix; what stays and the archive both verify across the cut', async () => {
    const old = Array.from({ length: 6 }, (_, i) => makeEvent({ tenantId: 'tenant_r', details: { n: i } }));
    await h.app.recordRepository.append(old);
    await h.db.pool.query("UPDATE audit.records SET recorded_at = now() - interval '500 days' WHERE tenant_id = 'tenant_r'");
    // Backdating recorded_at changed hashed fields: re-chain those rows as if they had been recorded then.
    const { rows } = await h.db.pool.query("SELECT * FROM audit.records WHERE tenant_id = 'tenant_r' ORDER BY seq");
    const { toRecord } = await import('../src/repositories/record-repository.js');
    const { recordHash } = await import('../src/domain/chain.js');
    let prev = '0'.repeat(64);
    for (const row of rows) {
      const { hash: _h, ...fields } = toRecord(row);
      const hash = recordHash({ ...fields, prevHash: prev });
      await h.db.pool.query('UPDATE audit.records SET prev_hash = $1, hash = $2 WHERE tenant_id = $3 AND seq = $4', [prev, hash, 'tenant_r', row.seq]);
      prev = hash;
    }
    await h.db.pool.query("UPDATE audit.chain_heads SET hash = $1 WHERE tenant_id = 'tenant_r'", [prev]);
    await h.app.recordRepository.append([makeEvent({ tenantId: 'tenant_r', details: { n: 'new' } })]);
    expect(await h.app.recordRepository.verify('tenant_r')).toEqual({ records: 7, firstBroken: null });

    const dir = await mkdtemp(path.join(tmpdir(), 'audit-archive-'));
    const [result] = await runRetention(h.db.pool, { cutoff: new Date(Date.now() - 400 * 86_400_000), archiveDir: dir, tenant: 'tenant_r' });
    expect(result).toMatchObject({ archived: 6, upToSeq: 6 });
    expect(await count('tenant_r')).toBe(1);
    expect(await h.app.recordRepository.verify('tenant_r')).toEqual({ records: 1, firstBroken: null });
    const archive = await verifyArchive(result!.archive!);
    expect(archive).toMatchObject({ records: 6, firstBroken: null, header: { tenantId: 'tenant_r', startSeq: 0, endSeq: 6 } });

    // An edited archive is caught, and so is an edit of the record right after the cut.
    const text = await readFile(result!.archive!, 'utf8');
    const tampered = path.join(dir, 'tampered.ndjson');
    await writeFile(tampered, text.replace('"n":2', '"n":22'));
    expect((await verifyArchive(tampered)).firstBroken).toMatchObject({ seq: 3, reason: 'hash_mismatch' });
    await h.db.pool.query("UPDATE audit.records SET prev_hash = $1 WHERE tenant_id = 'tenant_r' AND seq = 7", ['f'.repeat(64)]);
    expect((await h.app.recordRepository.verify('tenant_r')).firstBroken).toMatchObject({ seq: 7, reason: 'anchor_mismatch' });
  });
});

describe('GET /onboarding/audit/export', () => {
  it('streams 100,000 records as NDJSON without growing memory, and CSV with a header', async () => {
    const tenantId = 'tenant_big';
    for (let i = 0; i < 20; i++)
      await h.app.recordRepository.append(Array.from({ length: 5000 }, (_, j) => makeEvent({ tenantId, details: { n: i * 5000 + j } })));
    const admin = { userId: 'admin_big', tenantId, roles: ['admin'] };

    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('run with --expose-gc (vitest.config.ts sets it)');
    const retained = () => {
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const before = retained();
    const started = Date.now();
    // A real socket: inject() takes the whole answer as fast as it comes (no backpressure), which is what is measured here.
    const address = await h.app.listen({ port: 0, host: '127.0.0.1' });
    const res = await fetch(`${address}/onboarding/audit/export?format=ndjson`, { headers: bearer(admin) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/ndjson/);
    let lines = 0;
    let bytes = 0;
    let peak = 0;
    let rest = '';
    let lastSeq = Infinity;
    let chunks = 0;
    for await (const chunk of res.body!) {
      const text = rest + Buffer.from(chunk).toString();
      const parts = text.split('\n');
      rest = parts.pop()!;
      for (const line of parts) {
        const r = AuditRecordSchema.parse(JSON.parse(line));
        expect(r.seq).toBeLessThan(lastSeq);
        lastSeq = r.seq;
        lines++;
      }
      bytes += chunk.length;
      // Memory still held after a collection, sampled through the download.
      if (++chunks % 200 === 0) peak = Math.max(peak, retained() - before);
    }
    console.log(`audit export: ${lines} records, ${(bytes / 1e6).toFixed(1)} MB in ${Date.now() - started} ms, retained at most ${(peak / 1e6).toFixed(1)} MB`);
    expect(lines).toBe(100_000);
    // The whole export is ~55 MB: memory must stay far below it (a buffered answer would hold all of it).
    expect(bytes).toBeGreaterThan(40_000_000);
    expect(peak).toBeLessThan(bytes / 6);

    await h.app.recordRepository.append([
      makeEvent({ tenantId: 'tenant_csv', target: { type: 'tenant', id: '=HYPERLINK("x")' } }),
      makeEvent({ tenantId: 'tenant_csv', action: 'session.start' }),
    ]);
    const csv = await h.app.inject({
      method: 'GET',
      url: '/onboarding/audit/export?format=csv&action=business_hours.update&to=2100-01-01T00:00:00Z',
      headers: bearer({ ...adminA, tenantId: 'tenant_csv' }),
    });
    expect(csv.statusCode).toBe(200);
    const rows = parseCsv(csv.body, { columns: true }) as Array<Record<string, string>>;
    expect(rows.length).toBeGreaterThan(0);
    expect(Object.keys(rows[0]!)).toContain('hash');
    expect(rows.map((r) => r.action)).toEqual(['business_hours.update']);
    // A cell a spreadsheet would run as a formula is quoted.
    expect(rows[0]!.targetId).toBe(`'=HYPERLINK("x")`);
    await waitFor(async () => (await count(tenantId, 'audit.export')) === 1, { message: 'the export is audited' });
  }, 180_000);
});

describe('the offline commands (verify, retention)', () => {
  it("run without the service's 10 s statement timeout: retention deletes a tenant's expired records in one statement", async () => {
    const [commandPool, servicePool] = [
      createPool({ connectionString: h.db.url, ...COMMAND_POOL_OPTIONS }),
      createPool({ connectionString: h.db.url, max: 1 }),
    ];
    try {
      expect((await commandPool.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]!.statement_timeout).toBe('0');
      expect((await servicePool.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]!.statement_timeout).toBe('10s');
    } finally {
      await Promise.all([commandPool.end(), servicePool.end()]);
    }
  });
});
