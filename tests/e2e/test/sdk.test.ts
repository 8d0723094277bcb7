import { connectRealtime, createClient, GlavitoApiError, type PushEvent, type RealtimeConnection } from '@glavito/client';
import { validateResponses } from '@glavito/client/validate';
import { waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startSystem, type System } from './system.js';

/** The whole system driven through the typed SDK a frontend uses: HTTP and WebSocket via the gateway. */
let sys: System;
const sockets: RealtimeConnection[] = [];
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await sys?.stop();
});

describe('@glavito/client through the gateway', () => {
  it('start → two step saves → live pushes, get_progress, statistics, and errors as GlavitoApiError', async () => {
    const token = sys.token({ userId: 'sdk-admin', tenantId: 'sdk-tenant', roles: ['admin'] });
    const api = createClient({ baseUrl: sys.gateway.url, token, validateResponses, correlationId: 'e2e-sdk-corr' });

    // Its own correlation id: the start's pushes (0 % or 9 %) may still be in flight when the socket opens.
    const started = await api.start({}, { correlationId: 'e2e-sdk-start' });
    const sessionId = started.session.id;
    expect(started.session.completedSteps).toEqual(['welcome']);

    const events: PushEvent[] = [];
    const resyncs: string[] = [];
    const realtime = connectRealtime({
      url: `${sys.gateway.url}/onboarding`,
      token,
      WebSocket,
      reconnect: { minDelayMs: 200, maxDelayMs: 2000 },
      onEvent: (e) => events.push(e),
      onResyncRequired: (id) => resyncs.push(id),
    });
    sockets.push(realtime);
    await expect(realtime.join(sessionId)).resolves.toEqual({ sessionId, recovered: false, replayed: 0 });
    expect(resyncs).toEqual([sessionId]);
    await expect(realtime.join('no-such-session')).rejects.toMatchObject({ name: 'GlavitoRealtimeError', code: 'session_not_found' });

    // organization_setup + channel_configuration: 2 → 3 of 11 steps done = 27 %, the first milestone.
    const org = await api.saveStep({ sessionId, stepId: 'organization_setup' }, { companyName: 'SDK Co', primaryColor: '#123456' });
    expect(org.progress.progressPercentage).toBe(18);
    const channels = await api.saveStep({ sessionId, stepId: 'channel_configuration' }, { webchat: { enabled: true } });
    expect(channels.progress.progressPercentage).toBe(27);

    // Pushes caused by the two saves: progress and milestone events carry the save's correlation id too.
    const of = (name: PushEvent['event']) =>
      events.filter((e) => e.event === name && e.data.sessionId === sessionId && e.data.correlationId === 'e2e-sdk-corr');
    await waitFor(() => of('milestone_reached').length === 1 && of('step_completed').length === 2 && of('progress_update').length >= 2, {
      timeoutMs: 10_000,
      message: 'pushes of both saves',
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(of('step_completed').map((e) => (e.event === 'step_completed' ? e.data.stepId : null))).toEqual(['organization_setup', 'channel_configuration']);
    expect(of('progress_update').map((e) => (e.event === 'progress_update' ? e.data.progress.progressPercentage : null))).toEqual([18, 27]);
    expect(realtime.progress(sessionId)?.progress.progressPercentage).toBe(27);
    expect(of('milestone_reached')[0]!.data).toMatchObject({ sessionId, threshold: 25, title: 'Getting Started' });
    const ids = events.map((e) => e.data.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(realtime.lastEventId(sessionId)).toBe(ids.at(-1));

    await expect(realtime.getProgress(sessionId)).resolves.toMatchObject({ sessionId, progressPercentage: 27, completedSteps: 3 });
    await expect(api.progress({ sessionId })).resolves.toMatchObject({ sessionId, progressPercentage: 27 });
    await expect(api.sessionClients({ sessionId })).resolves.toEqual({ sessionId, connectedClients: 1 });

    const stats = await api.statistics({ type: 'tenant_setup' });
    expect(stats).toMatchObject({ totalSessions: 1, byStatus: { active: 1 } });

    const missing = await api.getSession({ sessionId: 'no-such-session' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(GlavitoApiError);
    expect(missing).toMatchObject({ status: 404, code: 'SESSION_NOT_FOUND', route: 'getSession' });
    expect((missing as GlavitoApiError).requestId).toBeTruthy();

    const agent = createClient({ baseUrl: sys.gateway.url, token: () => sys.token({ userId: 'sdk-agent', tenantId: 'sdk-tenant' }) });
    await expect(agent.statistics()).rejects.toMatchObject({ name: 'GlavitoApiError', status: 403, code: 'AUTH_FORBIDDEN' });
    const invalid = await api
      .saveStep({ sessionId, stepId: 'organization_setup' }, { companyName: 'SDK Co', primaryColor: 'not-a-colour' })
      .catch((e: unknown) => e);
    expect(invalid).toMatchObject({ name: 'GlavitoApiError', status: 422 });
    expect((invalid as GlavitoApiError).details?.length).toBeGreaterThan(0);
  });

  it('a bad token ends the SDK connection in "unauthorized" through the gateway, without a reconnect loop', async () => {
    const states: string[] = [];
    const realtime = connectRealtime({
      url: `${sys.gateway.url}/onboarding`,
      token: 'nope',
      WebSocket,
      reconnect: { minDelayMs: 50, maxDelayMs: 100 },
      onStateChange: (s) => states.push(s),
    });
    sockets.push(realtime);
    await waitFor(() => realtime.state === 'unauthorized');
    await new Promise((r) => setTimeout(r, 500));
    expect(states).toEqual(['unauthorized']);
  });
});
