import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectionTestResultSchema } from '@glavito/contracts';
import { readStream, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type System } from './system.js';

let sys: System;
let receiver: http.Server;
let hits = 0;
beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  sys = await startSystem();
});
afterAll(async () => {
  await sys?.stop();
  receiver?.close();
});

describe('connection tests through the gateway', () => {
  it('accepts a session right after start (no eventual-consistency 404) and records history and events', async () => {
    const token = sys.token({ userId: 'ct-admin', tenantId: 'ct-tenant', roles: ['admin'] });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const start = await fetch(`${sys.gateway.url}/onboarding/start`, { method: 'POST', headers, body: '{}' });
    const sessionId = ((await start.json()) as { session: { id: string } }).session.id;

    const port = (receiver.address() as AddressInfo).port;
    const r = await fetch(`${sys.gateway.url}/onboarding/test-connection/${sessionId}`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ channel: 'webhook', config: { url: `http://127.0.0.1:${port}/hook`, secret: 'e2e-hook-secret' } }),
    });
    expect(r.status).toBe(200);
    const { result } = (await r.json()) as { result: unknown };
    expect(ConnectionTestResultSchema.parse(result)).toMatchObject({ status: 'success', channel: 'webhook' });
    expect(hits).toBe(1);

    const history = await fetch(`${sys.gateway.url}/onboarding/connection-history/${sessionId}`, { headers });
    expect(((await history.json()) as { items: unknown[] }).items).toHaveLength(1);

    const events = await waitFor(async () => {
      const all = (await readStream(sys.nats)).filter((e) => e.event.type === 'connection.tested' && e.event.sessionId === sessionId);
      return all.length === 1 ? all : null;
    });
    expect(JSON.stringify(events)).not.toContain('e2e-hook-secret');
  });
});
