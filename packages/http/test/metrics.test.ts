import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { metricsPlugin } from '../src/metrics.js';

describe('metrics plugin', () => {
  it('still exports the event-loop lag with the coarser sampling timer, and the request histogram', async () => {
    const app = Fastify();
    await app.register(metricsPlugin, { service: 'metrics-test' });
    app.get('/x', async () => ({ ok: true }));
    await app.inject({ method: 'GET', url: '/x' });
    // The lag histogram needs a few of its 100 ms samples before it reports anything.
    await new Promise((resolve) => setTimeout(resolve, 350));
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds\{service="metrics-test"\} \d/m);
    expect(Number(/^nodejs_eventloop_lag_max_seconds\{service="metrics-test"\} (\S+)/m.exec(text)?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(/^http_request_duration_seconds_count\{(?=[^}]*route="\/x")(?=[^}]*status="200")[^}]*\} 1$/m);
    await app.close();
  });
});
