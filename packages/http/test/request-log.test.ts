import { Writable } from 'node:stream';
import { createLogger } from '@glavito/logging';
import { describe, expect, it } from 'vitest';
import { createServiceApp } from '../src/service-app.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger('test', 'info', stream) };
}

describe('request logging', () => {
  it('writes one line per request with the fields an operator searches by, secrets in the URL redacted', async () => {
    const { lines, logger } = capture();
    const app = await createServiceApp({ service: 'test', logLevel: 'info', loggerInstance: logger });
    app.get('/things/:id', async () => ({ ok: true }));
    await app.ready();
    await app.inject({ method: 'GET', url: '/things/7?token=hunter2&x=1', headers: { 'x-request-id': 'req-1', 'x-correlation-id': 'corr-1' } });
    await app.inject({ method: 'GET', url: '/missing' });
    await app.close();

    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests).toHaveLength(2);
    expect(lines.filter((l) => /incoming request|request completed|not found/.test(String(l.msg)))).toEqual([]);
    expect(requests[0]).toMatchObject({
      method: 'GET',
      url: '/things/7?token=[REDACTED]&x=1',
      route: '/things/:id',
      statusCode: 200,
      requestId: 'req-1',
      correlationId: 'corr-1',
      service: 'test',
    });
    expect(typeof requests[0]!.responseTimeMs).toBe('number');
    expect(requests[1]).toMatchObject({ url: '/missing', statusCode: 404 });
    expect(JSON.stringify(lines)).not.toContain('hunter2');
  });

  it('writes nothing per request above info', async () => {
    const { lines, logger } = capture();
    logger.level = 'warn';
    const app = await createServiceApp({ service: 'test', logLevel: 'warn', loggerInstance: logger });
    app.get('/x', async () => ({ ok: true }));
    await app.inject({ method: 'GET', url: '/x' });
    await app.close();
    expect(lines).toEqual([]);
  });
});
