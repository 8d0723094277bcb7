/**
 * A step save on a tenant-defined flow (a custom step, its schema built from its fields, the session's pinned
 * version read from the flow cache) against a save of a built-in step, in the same session service process on
 * the same database: the custom flow should cost the same within noise. Saves go through `app.inject` (no
 * gateway, no network) in interleaved rounds, so load on the machine hits both arms alike; prints p50/p99 of
 * each arm and the ratio custom / built-in per round and overall.
 * Run: node --conditions=development --import tsx bench/flow-save.bench.ts   (BENCH_SAVES per arm and round, BENCH_ROUNDS)
 * Needs DATABASE_URL and NATS_URL (or the test kit's fallbacks).
 */
import { mintToken } from '@glavito/auth';
import { builtInDefinition, type FlowDefinition } from '@glavito/contracts';
import { createTestDatabase, createTestNats, TEST_JWT_SECRET } from '@glavito/testkit';
import { buildApp } from '../services/session/src/app.js';
import { loadSessionConfig } from '../services/session/src/config.js';

const SAVES = Number(process.env.BENCH_SAVES || 400);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 4);
const SESSIONS = 20;

const definition: FlowDefinition = {
  steps: [
    ...builtInDefinition('tenant_setup').steps,
    {
      id: 'custom_profile',
      isRequired: false,
      hidden: false,
      estimatedTime: 5,
      dependencies: ['organization_setup'],
      title: { en: 'Company profile' },
      fields: [
        { name: 'companyName', kind: 'text', required: true, label: { en: 'Company' }, maxLength: 200 },
        { name: 'primaryColor', kind: 'text', required: true, label: { en: 'Color' }, pattern: '#[0-9A-Fa-f]{6}' },
        { name: 'website', kind: 'url', required: false, label: { en: 'Website' } },
        {
          name: 'size',
          kind: 'select',
          required: false,
          label: { en: 'Size' },
          options: [
            { value: 'small', label: { en: 'Small' } },
            { value: 'large', label: { en: 'Large' } },
          ],
        },
      ],
    },
  ],
};

const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

const db = await createTestDatabase();
const nats = await createTestNats();
const config = loadSessionConfig({
  DATABASE_URL: db.url,
  NATS_URL: nats.url,
  EVENT_STREAM: nats.streamName,
  EVENT_SUBJECT_PREFIX: nats.subjectPrefix,
  RPC_SUBJECT_PREFIX: nats.rpcPrefix,
  DEAD_LETTER_PREFIX: nats.dlqPrefix,
  JWT_SECRET: TEST_JWT_SECRET,
  STEP_DATA_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'),
  LOG_LEVEL: 'silent',
});
const app = await buildApp(config, { logger: false });
await app.ready();
try {
  const auth = (tenantId: string, userId: string) => ({
    authorization: `Bearer ${mintToken({ secret: TEST_JWT_SECRET, userId, tenantId, roles: ['admin'], expiresIn: '1h' })}`,
  });
  const org = { companyName: 'Acme', primaryColor: '#112233' };
  // The custom tenant publishes its flow first, so its sessions pin version 2.
  const custom = auth('bench-custom', 'publisher');
  await app.inject({ method: 'PUT', url: '/onboarding/flows/tenant_setup/draft', headers: custom, payload: definition });
  const pub = await app.inject({ method: 'POST', url: '/onboarding/flows/tenant_setup/publish', headers: custom });
  if (pub.statusCode !== 201) throw new Error(`publish: ${pub.body}`);

  async function sessions(tenantId: string) {
    const out: Array<{ id: string; headers: Record<string, string> }> = [];
    for (let i = 0; i < SESSIONS; i++) {
      const headers = auth(tenantId, `u${i}`);
      const id = (await app.inject({ method: 'POST', url: '/onboarding/start', headers, payload: {} })).json().session.id as string;
      await app.inject({ method: 'PUT', url: `/onboarding/step/${id}/organization_setup`, headers, payload: org });
      out.push({ id, headers });
    }
    return out;
  }
  const builtIn = await sessions('bench-builtin');
  const customSessions = await sessions('bench-custom');
  // Re-saving a completed step: the same transition (step.updated) on both arms.
  const arms = {
    builtIn: { list: builtIn, step: 'organization_setup', data: org },
    custom: { list: customSessions, step: 'custom_profile', data: { ...org, website: 'https://acme.test', size: 'small' } },
  };
  const all: Record<keyof typeof arms, number[]> = { builtIn: [], custom: [] };
  console.log('round  built-in p50/p99 ms   custom p50/p99 ms   ratio p50');
  for (let round = 0; round <= ROUNDS; round++) {
    const times: Record<keyof typeof arms, number[]> = { builtIn: [], custom: [] };
    for (let i = 0; i < SAVES; i++) {
      for (const name of (i % 2 === 0 ? ['builtIn', 'custom'] : ['custom', 'builtIn']) as Array<keyof typeof arms>) {
        const arm = arms[name];
        const s = arm.list[i % arm.list.length]!;
        const t0 = performance.now();
        const r = await app.inject({ method: 'PUT', url: `/onboarding/step/${s.id}/${arm.step}`, headers: s.headers, payload: arm.data });
        times[name].push(performance.now() - t0);
        if (r.statusCode !== 200) throw new Error(`${name}: ${r.statusCode} ${r.body}`);
      }
    }
    if (round === 0) continue; // warm-up
    all.builtIn.push(...times.builtIn);
    all.custom.push(...times.custom);
    const [b, c] = [times.builtIn, times.custom];
    console.log(
      `${round}      ${pct(b, 0.5).toFixed(2)} / ${pct(b, 0.99).toFixed(2)}          ${pct(c, 0.5).toFixed(2)} / ${pct(c, 0.99).toFixed(2)}          ${(pct(c, 0.5) / pct(b, 0.5)).toFixed(3)}`,
    );
  }
  console.log(
    `all    ${pct(all.builtIn, 0.5).toFixed(2)} / ${pct(all.builtIn, 0.99).toFixed(2)}          ${pct(all.custom, 0.5).toFixed(2)} / ${pct(all.custom, 0.99).toFixed(2)}          ${(pct(all.custom, 0.5) / pct(all.builtIn, 0.5)).toFixed(3)}`,
  );
} finally {
  await app.close();
  await nats.cleanup();
  await db.drop();
}
