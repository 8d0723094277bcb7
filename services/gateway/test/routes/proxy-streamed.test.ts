import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { bearer, makeApp, makeToken } from '../helpers.js';

const MB = 1024 * 1024;
const CHUNK = 64 * 1024;
const EXPORT = '/onboarding/statistics/export?format=csv';
const admin = () => bearer(makeToken({ roles: ['admin'] }));

/** What the fake service did with one answer: bytes written, whether it is stuck on backpressure, how it ended. */
interface Sent {
  written: number;
  waitingForDrain: boolean;
  finished: boolean;
  hash: string;
  closed: Promise<{ finished: boolean }>;
}

type Behaviour =
  | { kind: 'download'; bytes: number; length?: boolean }
  | { kind: 'trickle'; chunks: number; gapMs: number }
  | { kind: 'stall'; afterBytes: number; stallMs: number }
  | { kind: 'json'; status: number; bytes?: number };

function drainedOrClosed(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * A stand-in progress service that generates its answer on the fly, chunk by chunk, honouring backpressure
 * (write() false → wait for drain), and records what it managed to send.
 */
async function startExportService(behaviour: () => Behaviour) {
  const sent: Sent[] = [];
  const server = http.createServer(async (req, res) => {
    const b = behaviour();
    req.resume();
    if (b.kind === 'json') {
      const body = b.bytes
        ? JSON.stringify({ pad: 'x'.repeat(b.bytes) })
        : JSON.stringify({ statusCode: b.status, code: 'PROGRESS_BAD_QUERY', error: 'Bad Request', message: 'querystring/from must be an ISO date' });
      res.writeHead(b.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const hash = createHash('sha256');
    const record: Sent = {
      written: 0,
      waitingForDrain: false,
      finished: false,
      hash: '',
      closed: once(res, 'close').then(() => ({ finished: res.writableFinished })),
    };
    sent.push(record);
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': 'attachment; filename="sessions.csv"' };
    if (b.kind === 'download' && b.length) headers['content-length'] = b.bytes;
    res.writeHead(200, headers);
    const total = b.kind === 'download' ? b.bytes : b.kind === 'trickle' ? b.chunks * 16 : Number.POSITIVE_INFINITY;
    for (let i = 0; record.written < total && !res.destroyed; i++) {
      const size = b.kind === 'trickle' ? 16 : Math.min(CHUNK, total - record.written);
      const chunk = Buffer.alloc(size, i % 251);
      hash.update(chunk);
      record.written += size;
      if (!res.write(chunk)) {
        record.waitingForDrain = true;
        await drainedOrClosed(res);
        record.waitingForDrain = false;
      }
      if (b.kind === 'trickle') await sleep(b.gapMs);
      if (b.kind === 'stall' && record.written >= b.afterBytes) await sleep(b.stallMs);
    }
    record.hash = hash.digest('hex');
    if (!res.destroyed) {
      res.end();
      record.finished = true;
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sent,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A real client socket: inject() buffers the whole answer and cannot go away mid-download. */
function get(port: number, path: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers: admin() }, resolve).on('error', reject);
  });
}

async function readAll(res: http.IncomingMessage): Promise<{ bytes: number; hash: string; complete: boolean }> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      hash.update(chunk);
    }
  } catch {
    // An aborted response: `complete` says so.
  }
  return { bytes, hash: hash.digest('hex'), complete: res.complete };
}

async function until(what: string, check: () => boolean) {
  for (let i = 0; i < 200 && !check(); i++) await sleep(50);
  if (!check()) throw new Error(`timed out waiting until ${what}`);
}

describe('a streamed route (statistics export)', () => {
  let app: FastifyInstance | undefined;
  let service: Awaited<ReturnType<typeof startExportService>> | undefined;

  afterEach(async () => {
    await app?.close();
    await service?.close();
    app = undefined;
    service = undefined;
  });

  async function start(behaviour: () => Behaviour, env: Record<string, string> = {}) {
    service = await startExportService(behaviour);
    app = await makeApp({ PROGRESS_URL: service.url, ...env });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return (app.server.address() as AddressInfo).port;
  }

  it('relays a 20 MB answer intact, chunked, with its content type and disposition, reading it only as fast as the client does', async () => {
    const port = await start(() => ({ kind: 'download', bytes: 20 * MB }));
    const res = await get(port, EXPORT);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename="sessions.csv"');
    expect(res.headers['content-length']).toBeUndefined();
    expect(res.headers['transfer-encoding']).toBe('chunked');

    // The client reads nothing yet: the service must end up blocked on backpressure, far short of the end.
    res.pause();
    const sent = () => service!.sent[0]!;
    await until('the service is blocked on backpressure', () => service!.sent.length === 1 && sent().waitingForDrain);
    await sleep(500);
    expect(sent().finished).toBe(false);
    expect(sent().waitingForDrain).toBe(true);
    // Socket buffers on both hops plus stream high-water marks; a buffering gateway would have taken all 20 MB.
    expect(sent().written).toBeLessThan(16 * MB);

    const got = await readAll(res);
    expect(got).toEqual({ bytes: 20 * MB, hash: sent().hash, complete: true });
    expect(sent().finished).toBe(true);
  });

  it("keeps the upstream's content-length when it sends one", async () => {
    const port = await start(() => ({ kind: 'download', bytes: 17 * MB, length: true }));
    const res = await get(port, EXPORT);
    expect(res.headers['content-length']).toBe(String(17 * MB));
    const got = await readAll(res);
    expect(got).toEqual({ bytes: 17 * MB, hash: service!.sent[0]!.hash, complete: true });
  });

  it('closes the upstream answer when the client goes away mid-download', async () => {
    const port = await start(() => ({ kind: 'stall', afterBytes: Number.POSITIVE_INFINITY, stallMs: 0 }));
    const res = await get(port, EXPORT);
    expect(res.statusCode).toBe(200);
    let received = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (received >= 2 * MB) break; // leaving the loop destroys the client socket
    }
    const closed = await Promise.race([service!.sent[0]!.closed, sleep(10_000).then(() => 'still open' as const)]);
    expect(closed).toEqual({ finished: false });
  });

  it('lets a download that keeps flowing run longer than UPSTREAM_TIMEOUT_MS, which bounds only the gap between chunks', async () => {
    // undici checks its timers on a coarse (about 0.5-1 s) clock: gaps far below, a total far above.
    const port = await start(() => ({ kind: 'trickle', chunks: 20, gapMs: 150 }), { UPSTREAM_TIMEOUT_MS: '1000' });
    const got = await readAll(await get(port, EXPORT));
    expect(got).toEqual({ bytes: 20 * 16, hash: service!.sent[0]!.hash, complete: true });
  });

  it('cuts a download whose upstream stalls longer than UPSTREAM_TIMEOUT_MS between chunks', async () => {
    const port = await start(() => ({ kind: 'stall', afterBytes: CHUNK, stallMs: 4000 }), { UPSTREAM_TIMEOUT_MS: '500' });
    const res = await get(port, EXPORT);
    expect(res.statusCode).toBe(200);
    const got = await readAll(res);
    expect(got.complete).toBe(false);
    expect(got.bytes).toBeLessThan(2 * CHUNK);
  });

  it('relays an error answer whole, as JSON, as on every other route', async () => {
    await start(() => ({ kind: 'json', status: 400 }));
    const res = await app!.inject({ method: 'GET', url: `${EXPORT}&from=yesterday`, headers: admin() });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.json()).toEqual({ statusCode: 400, code: 'PROGRESS_BAD_QUERY', error: 'Bad Request', message: 'querystring/from must be an ISO date' });
  });
});

describe('a route that is not streamed', () => {
  it('still refuses an upstream answer above 16 MB (503), and relays one below', async () => {
    let bytes = 17 * MB;
    const service = await startExportService(() => ({ kind: 'json', status: 200, bytes }));
    const app = await makeApp({ PROGRESS_URL: service.url });
    try {
      const big = await app.inject({ method: 'GET', url: '/onboarding/statistics', headers: admin() });
      expect(big.statusCode).toBe(503);
      expect(big.json()).toMatchObject({ code: 'GATEWAY_SERVICE_UNAVAILABLE' });

      bytes = 15 * MB;
      const ok = await app.inject({ method: 'GET', url: '/onboarding/statistics', headers: admin() });
      expect(ok.statusCode).toBe(200);
      expect(ok.rawPayload.length).toBeGreaterThan(15 * MB);
      expect(ok.headers['content-length']).toBe(String(ok.rawPayload.length));
    } finally {
      await app.close();
      await service.close();
    }
  });
});
