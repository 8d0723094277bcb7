import { stepsOfPublishedFlow, type FlowPublishedData, type OnboardingType, type StepConfiguration } from '@glavito/contracts';
import { prepared, recentWrites, type Pool } from '@glavito/db';

export interface KnownFlow {
  steps: StepConfiguration[];
  /** Custom steps' titles per language (built-in steps' are in the message catalogs). */
  titles: Record<string, Record<string, string>>;
}

/**
 * This service's copy of tenants' flow versions, written from flow.published (never read from the session
 * service's tables). Versions never change once published, so a version read once is kept in memory.
 */
export function createFlowRepository(pool: Pool, opts: { cacheSize?: number } = {}) {
  const known = recentWrites<KnownFlow>(opts.cacheSize ?? 1000);
  const key = (tenantId: string, type: string, version: number) => `${tenantId}\u0000${type}\u0000${version}`;
  const toKnown = (data: Pick<FlowPublishedData, 'steps'>): KnownFlow => ({
    steps: stepsOfPublishedFlow(data as FlowPublishedData),
    titles: Object.fromEntries(data.steps.filter((s) => s.titles).map((s) => [s.id, s.titles!])),
  });

  return {
    /** Records a published version (a redelivery changes nothing). */
    async record(tenantId: string, data: FlowPublishedData): Promise<void> {
      await pool.query(
        `INSERT INTO progress.flow_versions (tenant_id, type, version, steps, published_at) VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT DO NOTHING`,
        [tenantId, data.type, data.version, JSON.stringify(data.steps), data.publishedAt],
      );
      known.set(key(tenantId, data.type, data.version), toKnown(data));
    },

    /** A version already in memory (the projection applies events synchronously). */
    cached(tenantId: string, type: OnboardingType, version: number): KnownFlow | undefined {
      return known.get(key(tenantId, type, version));
    },

    /** Reads a version into memory; null while its flow.published has not been applied here. */
    async load(tenantId: string, type: OnboardingType, version: number): Promise<KnownFlow | null> {
      const hit = known.get(key(tenantId, type, version));
      if (hit) return hit;
      const { rows } = await pool.query<{ steps: FlowPublishedData['steps'] }>(
        prepared('SELECT steps FROM progress.flow_versions WHERE tenant_id = $1 AND type = $2 AND version = $3', [tenantId, type, version]),
      );
      if (!rows[0]) return null;
      const flow = toKnown({ steps: rows[0].steps });
      known.set(key(tenantId, type, version), flow);
      return flow;
    },
  };
}

export type FlowRepository = ReturnType<typeof createFlowRepository>;
