import type { FastifyInstance } from 'fastify';
import type { Upstreams } from '../config.js';

export interface HealthRoutesOptions {
  upstreams: Upstreams;
  probeTimeoutMs?: number;
}

type Check = 'ok' | 'unavailable' | 'not_deployed';

async function probe(base: string, timeoutMs: number): Promise<Check> {
  try {
    const res = await fetch(`${base}/health/live`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.ok ? 'ok' : 'unavailable';
  } catch {
    return 'unavailable';
  }
}

export default async function healthRoutes(app: FastifyInstance, opts: HealthRoutesOptions): Promise<void> {
  const probeTimeoutMs = opts.probeTimeoutMs ?? 1000;
  // Probes must not be throttled, or a busy gateway would be taken out of rotation.
  const config = { rateLimit: false };

  app.get('/health/live', { config }, async () => ({ status: 'ok' }));

  app.get('/health/ready', { config }, async (_request, reply) => {
    const entries = await Promise.all(
      Object.entries(opts.upstreams).map(async ([name, base]) => [name, base ? await probe(base, probeTimeoutMs) : 'not_deployed'] as const),
    );
    // One service without pods must not take every gateway pod (and so the whole API) out of rotation:
    // the gateway stays ready and the affected routes answer 503 themselves.
    const allUp = entries.every(([, check]) => check !== 'unavailable');
    return reply.code(200).send({ status: allUp ? 'ok' : 'degraded', checks: Object.fromEntries(entries) });
  });
}
