import { WebSocket } from 'ws';
import { waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type System } from './system.js';

let sys: System;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys?.stop();
});

type Frame = { event: string; data: Record<string, unknown>; id?: string };

function open(url: string): Promise<{ ws: WebSocket; frames: Frame[]; closed: { code?: number } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const frames: Frame[] = [];
    const closed: { code?: number } = {};
    ws.on('message', (raw: Buffer) => frames.push(JSON.parse(raw.toString())));
    ws.on('close', (code) => (closed.code = code));
    ws.once('open', () => resolve({ ws, frames, closed }));
    ws.once('error', reject);
  });
}

describe('live pushes through the gateway', () => {
  it('a step save pushes step_completed, progress_update and milestone_reached exactly once each', async () => {
    const token = sys.token({ userId: 'rt-admin', tenantId: 'rt-tenant', roles: ['admin'] });
    const http = (method: string, path: string, body?: unknown) =>
      fetch(`${sys.gateway.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const start = await http('POST', '/onboarding/start', {});
    const sessionId = ((await start.json()) as { session: { id: string } }).session.id;

    const client = await open(`${sys.gateway.url.replace('http', 'ws')}/onboarding?token=${token}`);
    await waitFor(() => client.frames.find((f) => f.event === 'connected'));
    client.ws.send(JSON.stringify({ event: 'join_session', data: { sessionId }, id: 'join' }));
    await waitFor(() => client.frames.find((f) => f.event === 'session_joined'));
    await new Promise((r) => setTimeout(r, 300));
    client.frames.length = 0;

    // organization_setup + channel_configuration: 2 → 3 of 11 steps done = 27 %, the first milestone.
    const org = await http('PUT', `/onboarding/step/${sessionId}/organization_setup`, { companyName: 'Realtime Co', primaryColor: '#123456' });
    expect(org.status).toBe(200);
    const channels = await http('PUT', `/onboarding/step/${sessionId}/channel_configuration`, { webchat: { enabled: true } });
    expect(channels.status).toBe(200);

    await waitFor(() => client.frames.some((f) => f.event === 'milestone_reached'), { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 500));
    const byEvent = (e: string) => client.frames.filter((f) => f.event === e);
    expect(byEvent('step_completed').map((f) => f.data.stepId)).toEqual(['organization_setup', 'channel_configuration']);
    expect(byEvent('progress_update').map((f) => (f.data.progress as { progressPercentage: number }).progressPercentage)).toEqual([18, 27]);
    expect(byEvent('milestone_reached')).toHaveLength(1);
    expect(byEvent('milestone_reached')[0]!.data).toMatchObject({ sessionId, threshold: 25, title: 'Getting Started' });
    const ids = client.frames.map((f) => f.data.eventId);
    expect(new Set(ids).size).toBe(ids.length);

    client.ws.send(JSON.stringify({ event: 'get_progress', data: { sessionId }, id: 'gp' }));
    const progress = await waitFor(() => client.frames.find((f) => f.id === 'gp'));
    expect(progress).toMatchObject({ event: 'progress_update', data: { progress: { progressPercentage: 27 } } });

    const counted = await http('GET', `/onboarding/session-clients/${sessionId}`);
    expect(await counted.json()).toEqual({ sessionId, connectedClients: 1 });
    client.ws.close();
  });

  it('one progress truth: from start to a completion with optional steps left, the bar never moves back, 100 % milestone once, nothing after onboarding_completed', async () => {
    const token = sys.token({ userId: 'rt-truth', tenantId: 'rt-truth-tenant', roles: ['admin'] });
    const http = async (method: string, path: string, body?: unknown) => {
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
      const r = await fetch(`${sys.gateway.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    // Connected before the start: the user's own events reach the socket from the first one.
    const client = await open(`${sys.gateway.url.replace('http', 'ws')}/onboarding?token=${token}`);
    await waitFor(() => client.frames.find((f) => f.event === 'connected'));
    const start = await http('POST', '/onboarding/start', {});
    const sessionId = (start.body.session as { id: string }).id;
    expect((await http('PUT', `/onboarding/step/${sessionId}/organization_setup`, { companyName: 'Truth Co', primaryColor: '#123456' })).status).toBe(200);
    expect((await http('POST', `/onboarding/skip/${sessionId}/channel_configuration`, {})).status).toBe(200);
    expect((await http('PUT', `/onboarding/step/${sessionId}/knowledge_base`, { categories: ['FAQ'] })).status).toBe(200);
    const done = await http('POST', `/onboarding/complete/${sessionId}`);
    expect(done.status).toBe(200);

    await waitFor(() => client.frames.some((f) => f.event === 'onboarding_completed'), { timeoutMs: 10_000, message: 'onboarding_completed' });
    // Anything late would arrive within this pause.
    await new Promise((r) => setTimeout(r, 700));
    // The session's own pushes; `notification` frames are the admin's in-app inbox (a milestone or a completion
    // announced to the tenant's admins, who include this user) and may come after the completion.
    const pushes = client.frames.filter((f) => f.data.sessionId === sessionId && f.id === undefined && f.event !== 'notification');
    const carrying = pushes.filter((f) => ['progress_update', 'milestone_reached', 'onboarding_completed'].includes(f.event));
    const percentages = carrying.map((f) => (f.data.progress as { progressPercentage: number }).progressPercentage);
    expect(percentages, 'the bar, in arrival order').toEqual([...percentages].sort((a, b) => a - b));
    expect(percentages[0]).toBe(9);
    expect(carrying.map((f) => f.data.seq as number)).toEqual(carrying.map((_, i) => i + 1));
    expect(
      pushes
        .filter((f) => f.event !== 'onboarding_completed' && f.event !== 'progress_update' && f.event !== 'milestone_reached')
        .every((f) => !('progress' in f.data)),
    ).toBe(true);
    expect(pushes.at(-1)!.event).toBe('onboarding_completed');
    expect(pushes.at(-1)!.data).toMatchObject({ progress: { progressPercentage: 100, estimatedTimeRemaining: 0, nextStep: null }, forced: false });
    expect(pushes.filter((f) => f.event === 'milestone_reached').map((f) => f.data.threshold)).toEqual([25, 50, 75, 100]);
    expect(pushes.filter((f) => f.event === 'onboarding_completed')).toHaveLength(1);

    // Every route reads 100 % for the completed session.
    const read = await http('GET', `/onboarding/session/${sessionId}`);
    expect(read.body.progress).toMatchObject({ progressPercentage: 100, nextStep: null, nextRecommendedAction: 'Onboarding complete' });
    const projected = await waitFor(async () => {
      const p = await http('GET', `/onboarding/progress/${sessionId}`);
      return p.body.progressPercentage === 100 ? p.body : null;
    });
    expect(projected).toMatchObject({ estimatedTimeRemaining: 0, currentStep: null, nextRecommendedAction: 'Onboarding complete', seq: carrying.length });
    expect((projected.milestones as Array<{ reachedAt: string | null }>).every((m) => m.reachedAt !== null)).toBe(true);
    const tenant = await http('GET', '/onboarding/tenant-setup/status');
    expect(tenant.body).toMatchObject({ isCompleted: true, progressPercentage: 100, missingSteps: [], skippedSteps: ['channel_configuration'] });
    client.ws.close();
  });

  it('refuses a bad token with close code 4401 through the gateway', async () => {
    const client = await open(`${sys.gateway.url.replace('http', 'ws')}/onboarding?token=nope`);
    await waitFor(() => client.closed.code);
    expect(client.closed.code).toBe(4401);
  });

  it('a frame that breaks the protocol ends in its close code, every time, not in a cut connection (1006)', async () => {
    const token = sys.token({ userId: 'rt-violator', tenantId: 'rt-tenant' });
    const url = `${sys.gateway.url.replace('http', 'ws')}/onboarding?token=${token}`;
    // Large enough that the client is still sending when the server has already refused the frame.
    const oversized = JSON.stringify({ event: 'join_session', data: { sessionId: 'x'.repeat(200_000) } });
    const notUtf8 = Buffer.concat([Buffer.from('{"event":"get_progress","data":{"sessionId":"'), Buffer.from([0xff]), Buffer.from('"}}')]);
    const codes = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const client = await open(url);
        await waitFor(() => client.frames.find((f) => f.event === 'connected'));
        client.ws.send(i % 3 === 2 ? notUtf8 : oversized, { binary: false });
        await waitFor(() => client.closed.code, { timeoutMs: 10_000 });
        return client.closed.code;
      }),
    );
    expect(codes).toEqual(Array.from({ length: 24 }, (_, i) => (i % 3 === 2 ? 1007 : 1009)));
  });
});
