import { createHmac } from 'node:crypto';
import http from 'node:http';
import { ConnectionTestResultSchema } from '@glavito/contracts';
import { describe, expect, it } from 'vitest';
import { channelHarness, checkStatuses as checks, stages } from './helpers.js';

const received: Array<{ url: string; headers: http.IncomingHttpHeaders; body: string }> = [];

const server = http.createServer((req, res) => {
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
// The fake endpoint lives on loopback: allow it explicitly, as an operator would for an internal network.
const webhook = channelHarness('webhook', server, () => ({ CONNECTION_TEST_ALLOWED_CIDRS: '127.0.0.1/32' }));
const test = webhook.test;

describe('webhook channel', () => {
  it('POSTs a signed JSON test body and reports success with staged checks', async () => {
    const r = await test({ url: `${webhook.base}/ok`, secret: 'whsec-test-secret' });
    expect(r.statusCode).toBe(200);
    const { result } = r.json();
    ConnectionTestResultSchema.parse(result);
    expect(result).toMatchObject({ channel: 'webhook', status: 'success', details: { statusCode: 200, signed: true, url: `${webhook.base}/ok` } });
    expect(checks(result)).toEqual(stages(['config', 'dns', 'request', 'response'], 'success'));
    const hit = received.find((x) => x.url === '/ok')!;
    expect(hit.headers['user-agent']).toBe('Glavito-Webhook-Test/1.0');
    expect(hit.headers['content-type']).toBe('application/json');
    expect(hit.headers['x-glavito-signature']).toBe(`sha256=${createHmac('sha256', 'whsec-test-secret').update(hit.body).digest('hex')}`);
    expect(JSON.parse(hit.body)).toMatchObject({ test: true, message: 'Connection test from Glavito' });
    expect(r.body).not.toContain('whsec-test-secret');
  });

  it('does not follow a redirect of the signed POST: a warning that names the location', async () => {
    const before = received.length;
    const redirected = (await test({ url: `${webhook.base}/redirect`, secret: 'whsec-test-secret' })).json().result;
    expect(redirected).toMatchObject({ status: 'warning', details: { statusCode: 302, location: `${webhook.base}/ok` } });
    expect(redirected.message).toMatch(/redirects to .*\/ok; the test did not follow it/);
    expect(redirected.checks.at(-1)).toMatchObject({ name: 'response', status: 'warning' });
    expect(received.slice(before).map((x) => x.url)).toEqual(['/redirect']);
  });

  it('maps failures onto the taxonomy with a hint', async () => {
    // Each failure names the one stage in error, and history keeps the URL it was about.
    for (const [path, errorCode] of [
      ['/denied', 'auth_invalid'],
      ['/broken', 'provider_unavailable'],
      ['/missing', 'config_invalid'],
    ]) {
      const failed = (await test({ url: `${webhook.base}${path}` })).json().result;
      expect(failed).toMatchObject({ status: 'error', errorCode, details: { stage: 'response', url: `${webhook.base}${path}` } });
      expect(failed.checks.filter((c: { status: string }) => c.status === 'error')).toEqual([expect.objectContaining({ name: 'response' })]);
    }
    const closed = (await test({ url: 'http://127.0.0.1:1/ok' })).json().result;
    expect(closed).toMatchObject({ status: 'error', errorCode: 'network_unreachable' });
    expect(closed.hint).toMatch(/host and port/);
    const slow = (await test({ url: `${webhook.base}/slow` }, 300)).json().result;
    expect(slow).toMatchObject({ status: 'error', errorCode: 'timeout' });
    expect(slow.responseTime).toBeLessThan(2500);
  });

  it('answers 422 naming the field for a bad URL, and refuses credentials in the URL', async () => {
    const invalid = await test({ url: 'ftp://example.com/x' });
    expect(invalid.statusCode).toBe(422);
    expect(invalid.json()).toMatchObject({ code: 'CONNECTION_TEST_CONFIG_INVALID', details: [{ field: 'config.url', rule: 'http_url' }] });
    const userinfo = await test({ url: `http://hook-user:hook-pass@127.0.0.1:1/ok` });
    expect(userinfo.statusCode).toBe(422);
    expect(userinfo.json().details).toEqual([
      { field: 'config.url', rule: 'no_userinfo', message: expect.stringMatching(/must not carry a user name or password/) },
    ]);
    expect(userinfo.body).not.toContain('hook-pass');
  });
});
