import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectionTestResultSchema } from '@glavito/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, type Harness } from './helpers.js';

let h: Harness;
let server: http.Server;
let base: string;
const received: Array<{ url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
const user = { userId: 'u1', tenantId: 't1' };

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ url: req.url!, headers: req.headers, body });
      if (req.url === '/ok') return res.writeHead(200).end('{}');
      if (req.url === '/redirect') return res.writeHead(302, { location: '/ok' }).end();
      if (req.url === '/loop') return res.writeHead(302, { location: '/loop' }).end();
      if (req.url === '/denied') return res.writeHead(401).end();
      if (req.url === '/broken') return res.writeHead(500).end();
      if (req.url === '/slow') return setTimeout(() => res.writeHead(200).end(), 3000);
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The fake endpoint lives on loopback: allow it explicitly, as an operator would for an internal network.
  h = await startHarness({ env: { CONNECTION_TEST_ALLOWED_CIDRS: '127.0.0.1/32' } });
  h.addSession({ id: 's1', ...user });
});
afterAll(async () => {
  await h?.close();
  server?.close();
});

const test = (config: Record<string, unknown>, timeout?: number) =>
  h.app.inject({ method: 'POST', url: '/onboarding/test-connection/s1', headers: bearer(user), payload: { channel: 'webhook', config, ...(timeout ? { timeout } : {}) } });

describe('webhook channel', () => {
  it('POSTs a signed JSON test body and reports success with staged checks', async () => {
    const r = await test({ url: `${base}/ok`, secret: 'whsec-test-secret' });
    expect(r.statusCode).toBe(200);
    const { result } = r.json();
    ConnectionTestResultSchema.parse(result);
    expect(result).toMatchObject({ channel: 'webhook', status: 'success', details: { statusCode: 200, signed: true, redirects: 0 } });
    expect(result.checks.map((c: { name: string; status: string }) => [c.name, c.status])).toEqual([
      ['config', 'success'],
      ['dns', 'success'],
      ['request', 'success'],
    ]);
    const hit = received.find((x) => x.url === '/ok')!;
    expect(hit.headers['user-agent']).toBe('Glavito-Webhook-Test/1.0');
    expect(hit.headers['content-type']).toBe('application/json');
    expect(hit.headers['x-glavito-signature']).toBe(`sha256=${createHmac('sha256', 'whsec-test-secret').update(hit.body).digest('hex')}`);
    expect(JSON.parse(hit.body)).toMatchObject({ test: true, message: 'Connection test from Glavito' });
    expect(r.body).not.toContain('whsec-test-secret');
  });

  it('follows up to 3 redirects, re-checking each, and fails beyond', async () => {
    const ok = (await test({ url: `${base}/redirect` })).json().result;
    expect(ok).toMatchObject({ status: 'success', details: { redirects: 1 } });
    const loop = (await test({ url: `${base}/loop` })).json().result;
    expect(loop).toMatchObject({ status: 'error', errorCode: 'config_invalid' });
  });

  it('maps failures onto the taxonomy with a hint', async () => {
    expect((await test({ url: `${base}/denied` })).json().result).toMatchObject({ status: 'error', errorCode: 'auth_invalid' });
    expect((await test({ url: `${base}/broken` })).json().result).toMatchObject({ status: 'error', errorCode: 'provider_unavailable' });
    const closed = (await test({ url: 'http://127.0.0.1:1/ok' })).json().result;
    expect(closed).toMatchObject({ status: 'error', errorCode: 'network_unreachable' });
    expect(closed.hint).toMatch(/host and port/);
    const slow = (await test({ url: `${base}/slow` }, 300)).json().result;
    expect(slow).toMatchObject({ status: 'error', errorCode: 'timeout' });
    expect(slow.responseTime).toBeLessThan(2500);
    const invalid = (await test({ url: 'ftp://example.com/x' })).json().result;
    expect(invalid).toMatchObject({ status: 'error', errorCode: 'config_invalid', details: { errors: [{ field: 'url', rule: 'http_url' }] } });
  });
});
