import { waitFor } from '@glavito/testkit';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type System } from './system.js';

let sys: System;
beforeAll(async () => {
  sys = await startSystem({ logLevel: 'debug' });
});
afterAll(async () => {
  await sys?.stop();
});

describe('correlation ids', () => {
  it('one step save carries the same correlation id through gateway, session, progress and realtime logs and the WS push', async () => {
    const token = sys.token({ userId: 'trace-admin', tenantId: 'trace-tenant', roles: ['admin'] });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const start = await fetch(`${sys.gateway.url}/onboarding/start`, { method: 'POST', headers, body: '{}' });
    const sessionId = ((await start.json()) as { session: { id: string } }).session.id;

    const frames: Array<{ event: string; data: Record<string, unknown> }> = [];
    const ws = new WebSocket(`${sys.gateway.url.replace('http', 'ws')}/onboarding?token=${token}`);
    ws.on('message', (raw: Buffer) => frames.push(JSON.parse(raw.toString())));
    await new Promise((r) => ws.once('open', r));

    const correlationId = `trace-${Date.now()}`;
    const save = await fetch(`${sys.gateway.url}/onboarding/step/${sessionId}/organization_setup`, {
      method: 'PUT',
      headers: { ...headers, 'x-correlation-id': correlationId },
      body: JSON.stringify({ companyName: 'Trace Co', primaryColor: '#101010' }),
    });
    expect(save.status).toBe(200);

    const push = await waitFor(() => frames.find((f) => f.event === 'progress_update' && f.data.correlationId === correlationId), { timeoutMs: 10_000 });
    expect(push.data.sessionId).toBe(sessionId);
    const logged = (lines: string[]) => lines.some((l) => l.includes(correlationId));
    await waitFor(() => logged(sys.gateway.logs) && logged(sys.session.logs) && logged(sys.progress.logs) && logged(sys.realtime.logs), {
      timeoutMs: 10_000,
      message: 'correlation id in every log',
    });
    ws.close();
  });
});
