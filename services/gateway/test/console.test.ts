import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp } from './helpers.js';

const INDEX = '<!doctype html><html><head><script type="module" src="/console/assets/index-abc123.js"></script></head><body>console</body></html>';
const SECRET = 'secret-outside-the-console-folder';

/** A GET whose path goes out byte for byte (Node's client does not normalize it). */
function rawGet(port: number, rawPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the console at /console (CONSOLE_DIR)', () => {
  let base: string;
  let app: FastifyInstance;

  beforeAll(async () => {
    // base/secret.txt sits next to the served folder: what a traversal would reach.
    base = mkdtempSync(path.join(tmpdir(), 'gateway-console-'));
    const dir = path.join(base, 'dist');
    mkdirSync(path.join(dir, 'assets'), { recursive: true });
    writeFileSync(path.join(dir, 'index.html'), INDEX);
    writeFileSync(path.join(dir, 'assets', 'index-abc123.js'), 'export const x = 1;\n');
    writeFileSync(path.join(dir, 'assets', 'index-def456.css'), 'body { color: black }\n');
    writeFileSync(path.join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(path.join(dir, '.env'), SECRET);
    writeFileSync(path.join(base, 'secret.txt'), SECRET);
    app = await makeApp({ CONSOLE_DIR: dir });
  });
  afterAll(async () => {
    await app.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('redirects /console to /console/, keeping the query', async () => {
    const bare = await app.inject({ method: 'GET', url: '/console' });
    expect(bare.statusCode).toBe(301);
    expect(bare.headers.location).toBe('/console/');
    expect((await app.inject({ method: 'GET', url: '/console?lang=fr' })).headers.location).toBe('/console/?lang=fr');
  });

  it('serves index.html at /console/ and for client-side routes below it, never cached without revalidation', async () => {
    for (const url of ['/console/', '/console/wizard', '/console/sessions/7c1e/steps/', '/console/?token=x']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type'], url).toMatch(/^text\/html/);
      expect(res.headers['cache-control'], url).toBe('no-cache');
      expect(res.body).toBe(INDEX);
    }
  });

  it('serves assets with their content types, cacheable for good, and HEAD without a body', async () => {
    const js = await app.inject({ method: 'GET', url: '/console/assets/index-abc123.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toMatch(/^(text|application)\/javascript/);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.body).toBe('export const x = 1;\n');

    const css = await app.inject({ method: 'GET', url: '/console/assets/index-def456.css' });
    expect(css.headers['content-type']).toMatch(/^text\/css/);

    const svg = await app.inject({ method: 'GET', url: '/console/favicon.svg' });
    expect(svg.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(svg.headers['cache-control']).toBe('no-cache');

    const head = await app.inject({ method: 'HEAD', url: '/console/assets/index-abc123.js' });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-type']).toMatch(/javascript/);
    expect(head.body).toBe('');
  });

  it('answers 404 for a missing asset or file, never index.html', async () => {
    for (const url of ['/console/assets/missing-000.js', '/console/assets/', '/console/missing.png', '/console/.env']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toMatchObject({ statusCode: 404, code: 'GATEWAY_ROUTE_NOT_FOUND' });
    }
  });

  it('serves nothing outside its folder, encoded or not, sent as raw bytes on the wire', async () => {
    const attempts = [
      '/console/../package.json',
      '/console/../secret.txt',
      '/console/%2e%2e/secret.txt',
      '/console/%2E%2E/secret.txt',
      '/console/..%2fsecret.txt',
      '/console/%2e%2e%2fsecret.txt',
      '/console/assets/..%2f..%2fsecret.txt',
      '/console/assets/%2e%2e/%2e%2e/secret.txt',
      '/console/..%5csecret.txt',
      '/console/%252e%252e/secret.txt',
      '/console/assets/%00/../../secret.txt',
      '/console/./index.html',
      '/console//etc/passwd',
    ];
    // inject() parses the URL with WHATWG rules, which would remove the dot segments before the gateway sees them.
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    for (const url of attempts) {
      const res = await rawGet(port, url);
      expect(res.status, url).toBeGreaterThanOrEqual(400);
      expect(res.status, url).toBeLessThan(500);
      expect(res.body, url).not.toContain(SECRET);
      expect(res.body, url).not.toContain('"name"');
    }
  });

  it('answers 405 to other methods', async () => {
    const res = await app.inject({ method: 'POST', url: '/console/', payload: {} });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it('sends a CSP under which the built console runs: scripts, styles, fetch and WebSocket from its own origin', async () => {
    const csp = String((await app.inject({ method: 'GET', url: '/console/' })).headers['content-security-policy']);
    const directives = Object.fromEntries(
      csp
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .map(([name, ...values]) => [name, values]),
    );
    expect(directives['script-src']).toEqual(["'self'"]);
    expect(directives['style-src']).toContain("'self'");
    // connect-src falls back to default-src: 'self' covers fetch and the same-origin ws:/wss: (CSP Level 3).
    expect(directives['connect-src'] ?? directives['default-src']).toContain("'self'");
    expect(directives['object-src']).toEqual(["'none'"]);
  });
});

describe('without CONSOLE_DIR', () => {
  it('has no console route', async () => {
    const app = await makeApp();
    try {
      expect((await app.inject({ method: 'GET', url: '/console/' })).statusCode).toBe(404);
      expect((await app.inject({ method: 'GET', url: '/console' })).statusCode).toBe(404);
    } finally {
      await app.close();
    }
  });
});
