import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { checkCompatibility, contractSnapshots, snapshotOf, type ContractSnapshot } from '../src/compat.js';
import { SessionStatusDataSchema } from '../src/events.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const snapshotDir = path.join(root, 'snapshots');
const committed = (key: string): ContractSnapshot => JSON.parse(readFileSync(path.join(snapshotDir, `${key}.json`), 'utf8'));

/** The committed snapshot of session.paused v1 against an edited v1 schema: the findings. */
const KEY = 'events/session.paused@v1';
const against = (edited: z.ZodType, key = KEY) => checkCompatibility({ [KEY]: committed(KEY) }, { ...contractSnapshots(), [key]: snapshotOf(edited, 'both') });

describe('contracts:check rules', () => {
  it('the contracts of this build are compatible with the committed snapshots', () => {
    const all: Record<string, ContractSnapshot> = {};
    for (const key of Object.keys(contractSnapshots())) {
      try {
        all[key] = committed(key);
      } catch {
        // not recorded yet: additive
      }
    }
    expect(checkCompatibility(all, contractSnapshots()).breaking).toEqual([]);
  });

  it('accepts an additive change: a new optional field', () => {
    const r = against(SessionStatusDataSchema.extend({ note: z.string().optional() }));
    expect(r.breaking).toEqual([]);
    expect(r.changed).toEqual([KEY]);
  });

  it.each([
    ['a removed field', SessionStatusDataSchema.omit({ status: true }), 'status', 'removed'],
    ['a retyped field', SessionStatusDataSchema.extend({ completedSteps: z.string() }), 'completedSteps', 'retyped'],
    ['a newly required field', SessionStatusDataSchema.extend({ note: z.string() }), 'note', 'newly required'],
    ['a narrowed enum', SessionStatusDataSchema.extend({ status: z.enum(['active', 'paused']) }), 'status', 'enum narrowed'],
    ['a field no longer guaranteed', SessionStatusDataSchema.extend({ currentStep: z.string().nullable().optional() }), 'currentStep', 'no longer required'],
    [
      'a retyped nested field',
      SessionStatusDataSchema.extend({ progress: SessionStatusDataSchema.shape.progress.extend({ totalSteps: z.string() }) }),
      'progress.totalSteps',
      'retyped',
    ],
  ])('catches %s', (_what, edited, field, problem) => {
    const { breaking } = against(edited);
    expect(breaking).toContainEqual(expect.objectContaining({ key: KEY, path: field, problem: expect.stringContaining(problem) }));
  });

  it('accepts a breaking shape as a new version beside the old one', () => {
    const v2 = SessionStatusDataSchema.omit({ progress: true }).extend({ flowVersion: z.number().int() });
    const r = checkCompatibility({ [KEY]: committed(KEY) }, { ...contractSnapshots(), 'events/session.paused@v2': snapshotOf(v2, 'both') });
    expect(r.breaking).toEqual([]);
    expect(r.added).toContain('events/session.paused@v2');
  });

  it('reports a removed contract (a retired version) as breaking', () => {
    const current = contractSnapshots();
    delete current[KEY];
    expect(checkCompatibility({ [KEY]: committed(KEY) }, current).breaking).toEqual([
      expect.objectContaining({ key: KEY, problem: expect.stringContaining('removed') }),
    ]);
  });

  it('treats inputs and outputs by who reads them: a request may stop requiring a field, a response may not', () => {
    const body = z.object({ name: z.string(), mode: z.enum(['a', 'b']) });
    const relaxed = z.object({ name: z.string().optional(), mode: z.enum(['a', 'b', 'c']) });
    expect(checkCompatibility({ k: snapshotOf(body, 'in') }, { k: snapshotOf(relaxed, 'in') }).breaking).toEqual([]);
    expect(checkCompatibility({ k: snapshotOf(body, 'out') }, { k: snapshotOf(relaxed, 'out') }).breaking).toEqual([
      expect.objectContaining({ path: 'name', problem: expect.stringContaining('no longer required') }),
    ]);
    // A response may gain a required field; a request may not.
    const more = body.extend({ extra: z.number() });
    expect(checkCompatibility({ k: snapshotOf(body, 'out') }, { k: snapshotOf(more, 'out') }).breaking).toEqual([]);
    expect(checkCompatibility({ k: snapshotOf(body, 'in') }, { k: snapshotOf(more, 'in') }).breaking).toEqual([expect.objectContaining({ path: 'extra' })]);
  });

  it('refuses any change to a flow version and to a route address or access rule', () => {
    const flow = committed('flows/tenant_setup@v1');
    const catalog = (flow.schema as { const: Array<{ estimatedTime: number }> }).const;
    const edited = { ...flow, schema: { const: catalog.map((s, i) => (i === 1 ? { ...s, estimatedTime: s.estimatedTime + 1 } : s)) } };
    expect(checkCompatibility({ f: flow }, { f: edited }).breaking).toEqual([
      expect.objectContaining({ problem: expect.stringContaining('may not change in place') }),
    ]);
    const route = committed('http/statistics/route');
    const opened = { ...route, schema: { const: { ...(route.schema as { const: object }).const, access: 'user' } } };
    expect(checkCompatibility({ r: route }, { r: opened }).breaking).toHaveLength(1);
  });
});

describe('pnpm contracts:check', () => {
  const run = promisify(execFile);
  const script = path.join(root, 'scripts', 'contracts.ts');
  const check = (dir: string) =>
    run(process.execPath, ['--import', 'tsx', script, 'check'], { cwd: root, env: { ...process.env, CONTRACT_SNAPSHOT_DIR: dir } });

  it('passes on the committed snapshots and fails, naming the contract and field, when a snapshot says a field existed that the code removed', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'contracts-'));
    try {
      cpSync(snapshotDir, dir, { recursive: true });
      await expect(check(dir)).resolves.toMatchObject({ stdout: expect.stringContaining('contracts compatible') });
      // As if the code had dropped `reason` from step.skipped's data since the snapshot.
      const file = path.join(dir, 'events', 'step.skipped@v1.json');
      const snap = JSON.parse(readFileSync(file, 'utf8'));
      snap.schema.properties.legacyField = { type: 'string' };
      writeFileSync(file, JSON.stringify(snap));
      const failed = await check(dir).then(
        () => null,
        (err: { code: number; stderr: string }) => err,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stderr).toContain('events/step.skipped@v1 at legacyField: removed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
