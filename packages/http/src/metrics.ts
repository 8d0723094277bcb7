import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    /** This service's Prometheus registry (each app has its own, so tests can run several). */
    metrics: {
      registry: Registry;
      counter(name: string, help: string, labelNames?: string[]): Counter<string>;
      histogram(name: string, help: string, labelNames?: string[], buckets?: number[]): Histogram<string>;
      /** A gauge read when Prometheus scrapes (outbox backlog, consumer lag, open sockets…). */
      gauge(name: string, help: string, read: () => number | Promise<number>): void;
    };
  }
}

export const EVENT_LOOP_MONITORING_PRECISION_MS = 100;

/** GET /metrics (Prometheus text format): process metrics, HTTP request durations by route, and the service's own. */
export const metricsPlugin = fp<{ service: string }>(
  async (app: FastifyInstance, opts) => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: opts.service });
    // The event-loop lag histogram samples with a repeating timer: prom-client's default 10 ms wakes every idle
    // process 100 times a second (~6 ms of CPU per second each here, bench/RESULTS.md §3). 100 ms still shows
    // any stall longer than that, which is what the lag metric is read for.
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_MONITORING_PRECISION_MS });
    const http = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      if (route === '/metrics') return;
      http.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    });
    app.decorate('metrics', {
      registry,
      counter: (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers: [registry] }),
      histogram: (name: string, help: string, labelNames: string[] = [], buckets?: number[]) =>
        new Histogram({ name, help, labelNames, registers: [registry], ...(buckets ? { buckets } : {}) }),
      gauge: (name: string, help: string, read: () => number | Promise<number>) => {
        new Gauge({
          name,
          help,
          registers: [registry],
          async collect() {
            try {
              this.set(await read());
            } catch {
              // a dependency being down must not break the scrape
            }
          },
        });
      },
    });
    app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
      reply.header('content-type', registry.contentType);
      return registry.metrics();
    });
  },
  { name: 'metrics' },
);
