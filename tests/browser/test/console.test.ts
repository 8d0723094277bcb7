import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createClient, type GlavitoClient } from '@glavito/client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { freePort, startService, startSystem, type ServiceProcess, type System } from '../../e2e/test/system.js';
import {
  byTestId,
  launchBrowser,
  openPage as openBrowserPage,
  outputDir,
  screenshot,
  serveConsole,
  waitForAttr,
  waitForText,
  type StaticServer,
} from './harness.js';

/**
 * The reference console (apps/console, built) in Debian's Chromium, served from its own origin while the
 * gateway answers on another: every call is cross-origin, so each PUT and DELETE needs the CORS preflight to
 * pass, and the WebSocket goes to the gateway's origin too. The system runs as processes on a fresh
 * database and stream prefix (tests/e2e's startSystem).
 */

let system: System;
let web: StaticServer;
let browser: Browser;
const gateway = { origin: '' };
const restarted: ServiceProcess[] = [];

beforeAll(async () => {
  web = await serveConsole(() => gateway.origin);
  system = await startSystem({ logLevel: 'warn', env: { gateway: { FRONTEND_URL: web.origin } } });
  gateway.origin = system.gateway.url;
  browser = await launchBrowser();
});

// The page of the running scenario: a failure leaves a screenshot of it in the output folder.
let current: { page: Page; close(): Promise<void> } | null = null;

async function openPage(b: Browser): ReturnType<typeof openBrowserPage> {
  const opened = await openBrowserPage(b);
  current = opened;
  return opened;
}

afterEach(async (ctx) => {
  if (current && ctx.task.result?.state === 'fail') {
    const name = ctx.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40);
    await screenshot(current.page, `failed-${name}`).catch(() => undefined);
  }
  await current?.close().catch(() => undefined);
  current = null;
});

afterAll(async () => {
  await browser?.close();
  await system?.stop();
  // startSystem's stop() knows the processes it started, not their restarts.
  await Promise.all(restarted.map((p) => p.stop()));
  await web?.close();
});

function tokens(tenantId: string) {
  return {
    admin: (userId = `${tenantId}-admin`) => system.token({ userId, tenantId, roles: ['admin'] }),
    agent: (userId = `${tenantId}-agent`) => system.token({ userId, tenantId, roles: ['agent'] }),
  };
}

function api(token: string): GlavitoClient {
  return createClient({ baseUrl: system.gateway.url, token });
}

/** Signs in with the link form the start banner prints: …/console/#token=<jwt>&api=<gateway>. */
async function openSignedIn(page: Page, token: string, route = ''): Promise<void> {
  await page.goto(`${web.origin}/console/#token=${encodeURIComponent(token)}&api=${encodeURIComponent(system.gateway.url)}`);
  await byTestId(page, 'page-wizard').waitFor();
  if (route) {
    await page.evaluate((r) => {
      location.hash = r;
    }, route);
  }
}

/** Records every aria-valuenow the progress bar shows, to check it never moves backwards. */
async function watchBar(page: Page): Promise<() => Promise<number[]>> {
  await page.evaluate(() => {
    const seen: number[] = [];
    (window as unknown as { __bar: number[] }).__bar = seen;
    const read = () => {
      const v = document.querySelector('[data-testid="progress-bar"]')?.getAttribute('aria-valuenow');
      if (v !== null && v !== undefined && Number(v) !== seen[seen.length - 1]) seen.push(Number(v));
    };
    new MutationObserver(read).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
    read();
  });
  return () => page.evaluate(() => (window as unknown as { __bar: number[] }).__bar);
}

async function saveStep(page: Page, stepId: string, fill: () => Promise<void> = async () => undefined): Promise<void> {
  await byTestId(page, `step-${stepId}`).click();
  await byTestId(page, `step-form-${stepId}`).waitFor();
  await fill();
  await byTestId(page, 'save-step').click();
  await waitForAttr(page, `step-${stepId}`, 'data-state', 'done');
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the console in a real browser, from another origin', () => {
  it('a whole tenant onboarding: sign in, 422 next to its field then fixed, saves, a skip, pause/resume, complete at 100 % with the 100 % milestone once', async () => {
    const t = tokens('browser-tenant-1');
    const { page, problems, close } = await openPage(browser);
    const writes: Array<{ method: string; path: string; status: number }> = [];
    page.on('response', (res) => {
      const method = res.request().method();
      if (method === 'PUT' || method === 'DELETE') writes.push({ method, path: new URL(res.url()).pathname, status: res.status() });
    });
    const failed: string[] = [];
    page.on('requestfailed', (req) => failed.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText}`));

    await page.goto(`${web.origin}/console/`);
    await byTestId(page, 'page-sign-in').waitFor();
    await byTestId(page, 'api-base').fill(system.gateway.url);
    await byTestId(page, 'token-input').fill(t.admin());
    await screenshot(page, '01-sign-in');
    await byTestId(page, 'sign-in').click();

    await byTestId(page, 'start-session').click();
    await waitForAttr(page, 'step-welcome', 'data-state', 'done');
    await waitForAttr(page, 'ws-state', 'data-state', 'open');
    const bar = await watchBar(page);
    await waitForAttr(page, 'step-customer_portal', 'data-state', 'locked');

    // A 422: each error next to its own field.
    await byTestId(page, 'step-organization_setup').click();
    await byTestId(page, 'field-companyName').fill('A');
    await byTestId(page, 'field-primaryColor').fill('red');
    await byTestId(page, 'save-step').click();
    await waitForText(page, 'field-error-companyName', /at least 2/);
    await waitForText(page, 'field-error-primaryColor', /format/);
    expect(await byTestId(page, 'field-companyName').getAttribute('aria-invalid')).toBe('true');
    await screenshot(page, '02-wizard-field-errors');
    await byTestId(page, 'field-companyName').fill('Acme Browser Co');
    await byTestId(page, 'field-primaryColor').fill('#2f5bd3');
    await byTestId(page, 'field-companySize').selectOption('10-50');
    await byTestId(page, 'save-step').click();
    await waitForAttr(page, 'step-organization_setup', 'data-state', 'done');
    expect(await byTestId(page, 'field-error-companyName').isVisible()).toBe(false);

    // A row of an array of objects: the error path is teamMembers.0.email.
    await byTestId(page, 'step-team_management').click();
    await byTestId(page, 'add-teamMembers').click();
    await byTestId(page, 'add-teamMembers').click();
    await byTestId(page, 'field-teamMembers.0.email').fill('not-an-email');
    await byTestId(page, 'field-teamMembers.0.role').selectOption('agent');
    await byTestId(page, 'field-teamMembers.1.email').fill('lead@acme.test');
    await byTestId(page, 'field-teamMembers.1.role').selectOption('supervisor');
    await byTestId(page, 'save-step').click();
    await waitForText(page, 'field-error-teamMembers.0.email', /email/i);
    expect(await byTestId(page, 'field-error-teamMembers.1.email').isVisible()).toBe(false);
    await byTestId(page, 'field-teamMembers.0.email').fill('agent@acme.test');
    await byTestId(page, 'save-step').click();
    await waitForAttr(page, 'step-team_management', 'data-state', 'done');

    // An optional nested group switched on, with a required boolean inside.
    await saveStep(page, 'channel_configuration', async () => {
      await byTestId(page, 'include-email').check();
      await byTestId(page, 'field-email.enabled').check();
      await byTestId(page, 'field-email.address').fill('support@acme.test');
      await byTestId(page, 'field-email.password').fill('s3cret-smtp');
    });

    await byTestId(page, 'step-knowledge_base').click();
    await byTestId(page, 'skip-step').click();
    await waitForAttr(page, 'step-knowledge_base', 'data-state', 'skipped');
    await waitForAttr(page, 'step-customer_portal', 'data-state', 'available');

    await byTestId(page, 'pause-session').click();
    await waitForText(page, 'session-status', 'paused');
    await byTestId(page, 'resume-session').click();
    await waitForText(page, 'session-status', 'active');

    await byTestId(page, 'complete-session').click();
    await byTestId(page, 'completion-summary').waitFor();
    await waitForText(page, 'session-status', 'completed');
    await waitForText(page, 'progress-percent', '100 %');
    await waitForAttr(page, 'milestone-100', 'data-reached', 'true');
    // onboarding_completed is the session's last push: after it, every milestone push has arrived.
    await page.locator('[data-testid="event"][data-event="onboarding_completed"]').waitFor();
    expect(await page.locator('[data-testid="event"][data-event="milestone_reached"][data-threshold="100"]').count()).toBe(1);
    await screenshot(page, '03-wizard-completed');

    const seen = await bar();
    expect(seen.at(-1)).toBe(100);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));

    // Every save was a cross-origin PUT that got an answer (a refused preflight has none).
    expect(writes.filter((w) => w.method === 'PUT' && w.path.startsWith('/onboarding/step/')).map((w) => w.status)).toEqual([422, 200, 422, 200, 200]);
    expect(failed).toEqual([]);
    expect(problems.errors).toEqual([]);
    await close();
  });

  it('the agent welcome flow: 409 shown until the tenant setup is completed, then the agent flow in the same wizard', async () => {
    const t = tokens('browser-tenant-2');
    const { page, problems, close } = await openPage(browser);
    await openSignedIn(page, t.agent());
    await byTestId(page, 'start-session').click();
    await waitForText(page, 'wizard-error', /setup/i);
    await screenshot(page, '04-agent-409');

    const admin = api(t.admin());
    const { session } = await admin.start();
    await admin.saveStep({ sessionId: session.id, stepId: 'organization_setup' }, { companyName: 'Agents Inc', primaryColor: '#112233' });
    await admin.complete({ sessionId: session.id });

    await byTestId(page, 'start-session').click();
    await waitForAttr(page, 'step-welcome', 'data-state', 'done');
    expect(await byTestId(page, 'wizard-error').isVisible()).toBe(false);
    await waitForAttr(page, 'step-team_assignment', 'data-state', 'locked');
    // A push re-renders the wizard while the agent types: the field keeps the focus and the caret, no keystroke is lost.
    const agentApi = api(t.agent());
    const started = (await agentApi.status()).session!;
    await byTestId(page, 'step-profile_setup').click();
    await byTestId(page, 'field-displayName').click();
    await page.keyboard.type('Ada');
    await agentApi.pause({ sessionId: started.id });
    await waitForText(page, 'session-status', 'paused');
    await page.keyboard.type(' Agent');
    expect(await byTestId(page, 'field-displayName').inputValue()).toBe('Ada Agent');
    await agentApi.resume({ sessionId: started.id });
    await waitForText(page, 'session-status', 'active');
    await saveStep(page, 'profile_setup', async () => {
      await byTestId(page, 'field-displayName').fill('Ada Agent');
      await byTestId(page, 'field-timezone').fill('Europe/Paris');
      await byTestId(page, 'field-languages').fill('en, fr');
    });
    for (const step of ['team_assignment', 'permissions_overview', 'feature_tour', 'test_ticket']) await saveStep(page, step);
    await byTestId(page, 'step-notification_preferences').click();
    await byTestId(page, 'skip-step').click();
    await waitForAttr(page, 'step-notification_preferences', 'data-state', 'skipped');
    await saveStep(page, 'quick_start');
    await byTestId(page, 'complete-session').click();
    await waitForText(page, 'session-status', 'completed');
    await waitForText(page, 'progress-percent', '100 %');
    await waitForAttr(page, 'milestone-100', 'data-reached', 'true');
    await screenshot(page, '05-agent-completed');

    const status = await agentApi.status();
    expect(status.session?.type).toBe('agent_welcome');
    expect(status.session?.status).toBe('completed');
    expect((await agentApi.getSession({ sessionId: status.session!.id })).session.stepData.profile_setup).toMatchObject({
      displayName: 'Ada Agent',
      languages: ['en', 'fr'],
    });
    expect(problems.errors).toEqual([]);
    await close();
  });

  it('a dropped socket: the realtime service is killed, saves go through the API meanwhile, and after the restart the page shows the right progress', async () => {
    const t = tokens('browser-tenant-3');
    const { page, problems, close } = await openPage(browser);
    await openSignedIn(page, t.admin());
    await byTestId(page, 'start-session').click();
    await waitForAttr(page, 'step-welcome', 'data-state', 'done');
    await waitForAttr(page, 'ws-state', 'data-state', 'open');
    const bar = await watchBar(page);
    // A save from the page first: the socket has then delivered an event of the joined session, whose id
    // the SDK sends back on its re-join to have what it missed replayed.
    await saveStep(page, 'organization_setup', async () => {
      await byTestId(page, 'field-companyName').fill('Offline Saves Ltd');
      await byTestId(page, 'field-primaryColor').fill('#445566');
    });
    const admin = api(t.admin());
    const { session } = await admin.status();
    const sessionId = session!.id;
    const before = await waitFor('the progress of the first save', async () => {
      const p = await admin.progress({ sessionId });
      return p.completedSteps === 2 && p;
    });
    await waitForText(page, 'progress-percent', `${before.progressPercentage} %`);
    await page.locator('[data-testid="event"][data-event="step_completed"][data-step="organization_setup"]').waitFor();

    // SIGKILL: no goodbye frame; the gateway loses its upstream socket and drops the browser's.
    const realtime = system.realtime;
    const port = Number(new URL(realtime.url).port);
    await new Promise<void>((resolve) => {
      realtime.child.once('exit', () => resolve());
      realtime.child.kill('SIGKILL');
    });
    await waitForAttr(page, 'ws-state', 'data-state', 'reconnecting');
    await screenshot(page, '06-socket-down');

    await admin.saveStep({ sessionId, stepId: 'channel_configuration' }, { webchat: { enabled: true, greeting: 'Hi' } });
    await admin.skipStep({ sessionId, stepId: 'knowledge_base' });
    const after = await waitFor('the progress of the saves made while the socket was down', async () => {
      const p = await admin.progress({ sessionId });
      return p.completedSteps === 3 && p.skippedSteps === 1 && p.milestones.some((m) => m.threshold === 25 && m.reachedAt) && p;
    });
    expect(after.progressPercentage).toBeGreaterThan(before.progressPercentage);
    // Nothing reached the page while its socket was down.
    expect(await byTestId(page, 'progress-percent').textContent()).toBe(`${before.progressPercentage} %`);

    system.realtime = await startService('realtime', realtime.env, port);
    restarted.push(system.realtime);
    await waitForAttr(page, 'ws-state', 'data-state', 'open', 30_000);
    await waitForText(page, 'progress-percent', `${after.progressPercentage} %`);
    await waitForAttr(page, 'step-channel_configuration', 'data-state', 'done');
    await waitForAttr(page, 'step-knowledge_base', 'data-state', 'skipped');
    await waitForAttr(page, 'milestone-25', 'data-reached', 'true');
    // The missed pushes were replayed (the re-join's lastEventId), not only refetched: they are in the log.
    await page.locator('[data-testid="event"][data-event="step_completed"][data-step="channel_configuration"]').waitFor();
    await page.locator('[data-testid="event"][data-event="step_completed"][data-step="knowledge_base"]').waitFor();
    await page.locator('[data-testid="event"][data-event="milestone_reached"][data-threshold="25"]').waitFor();
    expect(await page.locator('[data-testid="event"][data-event="milestone_reached"]').count()).toBe(1);
    await screenshot(page, '07-socket-recovered');

    const seen = await bar();
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(problems.errors).toEqual([]);
    await close();
  });

  it('the connection-test panel: staged checks of a webhook, an error with its code and hint, and the history', async () => {
    const t = tokens('browser-tenant-4');
    const received: string[] = [];
    const receiver = http.createServer((req, res) => {
      received.push(String(req.headers['x-glavito-signature'] ?? ''));
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const closedUrl = `http://127.0.0.1:${await freePort()}/nothing-here`;

    const admin = api(t.admin());
    await admin.start();
    const { page, problems, close } = await openPage(browser);
    await openSignedIn(page, t.admin(), '#/connections');
    await byTestId(page, 'page-connections').waitFor();
    await byTestId(page, 'conn-channel').selectOption('webhook');
    await byTestId(page, 'field-url').fill(hookUrl);
    await byTestId(page, 'field-secret').fill('whsec-browser-test');
    await byTestId(page, 'conn-run').click();
    await waitForText(page, 'conn-status', 'success');
    expect(await page.locator('[data-testid="conn-check"]').count()).toBeGreaterThan(0);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatch(/^sha256=[0-9a-f]{64}$/);
    await page.locator('[data-testid="conn-history-item"]').first().waitFor();
    await screenshot(page, '08-connection-success');

    await byTestId(page, 'field-url').fill(closedUrl);
    await byTestId(page, 'conn-run').click();
    await waitForText(page, 'conn-status', 'error');
    await waitForText(page, 'conn-error-code', 'network_unreachable');
    await byTestId(page, 'conn-hint').waitFor();
    expect(await page.locator('[data-testid="conn-check"][data-status="error"]').count()).toBeGreaterThan(0);
    await waitFor('two history items', async () => (await page.locator('[data-testid="conn-history-item"]').count()) === 2);
    expect(await page.locator('[data-testid="conn-history-item"]').first().getAttribute('data-status')).toBe('error');

    // A config the service refuses (a 422, or a config_invalid result): its field errors land next to the fields.
    await byTestId(page, 'field-url').fill('ftp://nope');
    await byTestId(page, 'conn-run').click();
    await waitForText(page, 'field-error-url', /http/);
    await screenshot(page, '09-connection-error');
    expect(problems.errors).toEqual([]);
    await close();
  });

  it('the statistics dashboard shows the numbers GET /onboarding/statistics answers to the same token', async () => {
    const t = tokens('browser-tenant-5');
    // One completed tenant setup, one with a skip left open, one agent in progress.
    const a = api(t.admin('admin-a'));
    const s1 = (await a.start()).session.id;
    await a.saveStep({ sessionId: s1, stepId: 'organization_setup' }, { companyName: 'Stats One', primaryColor: '#101010' });
    await a.saveStep({ sessionId: s1, stepId: 'team_management' }, { teamMembers: [{ email: 'x@stats.test', role: 'agent' }] });
    await a.complete({ sessionId: s1 });
    const d = api(t.admin('admin-d'));
    const s2 = (await d.start()).session.id;
    await d.saveStep({ sessionId: s2, stepId: 'organization_setup' }, { companyName: 'Stats Two', primaryColor: '#202020' });
    await d.skipStep({ sessionId: s2, stepId: 'knowledge_base' });
    const b = api(t.agent('agent-b'));
    const s3 = (await b.start()).session.id;
    await b.saveStep({ sessionId: s3, stepId: 'profile_setup' }, { displayName: 'Bea', timezone: 'UTC' });

    const expected = await waitFor('the statistics to include every seeded event', async () => {
      const stats = await a.statistics();
      const kb = stats.stepStatistics.find((s) => s.stepId === 'knowledge_base');
      const profile = stats.stepStatistics.find((s) => s.stepId === 'profile_setup');
      return (
        stats.totalSessions === 3 && (stats.byStatus.completed ?? 0) === 1 && (kb?.skippedCount ?? 0) === 1 && (profile?.completedCount ?? 0) === 1 && stats
      );
    });

    const { page, problems, close } = await openPage(browser);
    await openSignedIn(page, t.admin('admin-a'), '#/statistics');
    await byTestId(page, 'funnel').waitFor();
    const value = (id: string) => byTestId(page, id).getAttribute('data-value');
    expect(Number(await value('stat-total'))).toBe(expected.totalSessions);
    expect(Number(await value('stat-completion-rate'))).toBe(expected.completionRate);
    expect(await value('stat-median-time')).toBe(String(expected.medianCompletionTime));
    expect(await value('stat-average-time')).toBe(String(expected.averageCompletionTime));
    for (const s of expected.stepStatistics) {
      const row = byTestId(page, `funnel-${s.stepId}`);
      expect({
        step: s.stepId,
        reached: await row.getAttribute('data-reached'),
        completed: await row.getAttribute('data-completed'),
        skipped: await row.getAttribute('data-skipped'),
        dropOff: await row.getAttribute('data-dropoff'),
      }).toEqual({
        step: s.stepId,
        reached: String(s.reachedCount),
        completed: String(s.completedCount),
        skipped: String(s.skippedCount),
        dropOff: String(s.dropOffCount),
      });
    }
    for (const m of expected.milestones) expect(await value(`stat-milestone-${m.threshold}`)).toBe(String(m.reachedCount));
    // And what the page shows agrees with a second read (nothing moved in between).
    expect(await a.statistics()).toEqual(expected);
    await screenshot(page, '10-statistics');
    expect(problems.errors).toEqual([]);
    await close();
  });

  it('the trend and cohort charts plot exactly what GET /onboarding/statistics/timeseries and /cohorts answer to the same token', async () => {
    const t = tokens('browser-tenant-7');
    // Two tenant setups (one completed, one with saves left open) and an agent in progress: 3 starts, 1 completion.
    const a = api(t.admin('admin-a'));
    const s1 = (await a.start()).session.id;
    await a.saveStep({ sessionId: s1, stepId: 'organization_setup' }, { companyName: 'Charts One', primaryColor: '#303030' });
    await a.saveStep({ sessionId: s1, stepId: 'team_management' }, { teamMembers: [{ email: 'c@charts.test', role: 'agent' }] });
    await a.complete({ sessionId: s1 });
    const d = api(t.admin('admin-d'));
    const s2 = (await d.start()).session.id;
    await d.saveStep({ sessionId: s2, stepId: 'organization_setup' }, { companyName: 'Charts Two', primaryColor: '#404040' });
    const b = api(t.agent('agent-b'));
    const s3 = (await b.start()).session.id;
    await b.saveStep({ sessionId: s3, stepId: 'profile_setup' }, { displayName: 'Cy', timezone: 'UTC' });

    const sum = (ts: { points: Array<{ value: number | null }> }) => ts.points.reduce((n, p) => n + (p.value ?? 0), 0);
    await waitFor('the aggregates to include every seeded event', async () => {
      const [starts, completions] = await Promise.all([a.statisticsTimeseries({ metric: 'starts' }), a.statisticsTimeseries({ metric: 'completions' })]);
      return sum(starts) === 3 && sum(completions) === 1;
    });

    const { page, problems, close } = await openPage(browser);
    await openSignedIn(page, t.admin('admin-a'), '#/statistics');

    type Shown = {
      metric: string | null;
      interval: string | null;
      points: Array<[string, number | null]>;
      rows: Array<[string, number | null, number]>;
      canvases: number;
    };
    const shownTrend = async (metric: string, interval: string, type: string): Promise<Shown> => {
      await page.waitForFunction(
        ([m, i, ty]) => {
          const fig = document.querySelector('[data-testid="trend-chart"]');
          return (
            fig?.getAttribute('data-state') === 'ready' &&
            fig.getAttribute('data-metric') === m &&
            fig.getAttribute('data-interval') === i &&
            fig.getAttribute('data-type') === ty
          );
        },
        [metric, interval, type] as const,
      );
      return page.evaluate(() => {
        const fig = document.querySelector('[data-testid="trend-chart"]') as HTMLElement;
        const rows = Array.from(fig.querySelectorAll('[data-testid="trend-points"] tbody tr')).map((tr) => {
          const v = tr.getAttribute('data-value');
          return [tr.getAttribute('data-start') ?? '', v === 'null' ? null : Number(v), Number(tr.getAttribute('data-sessions'))] as [
            string,
            number | null,
            number,
          ];
        });
        return {
          metric: fig.dataset.metric ?? null,
          interval: fig.dataset.interval ?? null,
          points: JSON.parse(fig.dataset.points ?? '[]') as Array<[string, number | null]>,
          rows,
          // uPlot drew: a canvas with a size, not an empty box.
          canvases: Array.from(fig.querySelectorAll('canvas')).filter((c) => c.width > 0 && c.height > 0).length,
        };
      });
    };
    const expectTrend = async (
      metric: 'starts' | 'completions' | 'abandonments' | 'completion_rate' | 'median_time_to_complete',
      interval: 'day' | 'week',
      type?: 'tenant_setup' | 'agent_welcome',
    ) => {
      const shown = await shownTrend(metric, interval, type ?? '');
      const ts = await a.statisticsTimeseries({ metric, interval, ...(type ? { type } : {}) });
      expect(shown.points).toEqual(ts.points.map((p) => [p.start, p.value]));
      expect(shown.rows).toEqual(ts.points.map((p) => [p.start, p.value, p.sessions]));
      expect(shown.canvases).toBeGreaterThan(0);
      return ts;
    };

    // The default: starts per day; the seeded starts are all on today's point.
    const starts = await expectTrend('starts', 'day');
    expect(sum(starts)).toBe(3);
    await byTestId(page, 'trends').screenshot({ path: path.join(outputDir, '11-trend-starts-per-day.png') });
    await byTestId(page, 'trend-metric').selectOption('completions');
    expect(sum(await expectTrend('completions', 'day'))).toBe(1);
    await byTestId(page, 'trend-interval').selectOption('week');
    await byTestId(page, 'trend-metric').selectOption('completion_rate');
    const rate = await expectTrend('completion_rate', 'week');
    expect(rate.points.some((p) => p.value !== null && p.value > 0)).toBe(true);
    await byTestId(page, 'trend-metric').selectOption('median_time_to_complete');
    await expectTrend('median_time_to_complete', 'week');
    // The page's flow filter reaches the charts: the agent flow alone has one start and no completion.
    await byTestId(page, 'trend-metric').selectOption('starts');
    await expectTrend('starts', 'week');
    await byTestId(page, 'stats-type').selectOption('agent_welcome');
    expect(sum(await expectTrend('starts', 'week', 'agent_welcome'))).toBe(1);
    await waitForAttr(page, 'cohort-chart', 'data-type', 'agent_welcome');
    const agentCohorts = await a.statisticsCohorts({ type: 'agent_welcome' });
    expect(
      await page.evaluate(() =>
        Array.from(document.querySelectorAll('[data-testid="cohort-points"] tbody tr')).map((tr) => [
          tr.getAttribute('data-week-start'),
          Number(tr.getAttribute('data-sessions')),
          Number(tr.getAttribute('data-completed')),
        ]),
      ),
    ).toEqual(agentCohorts.cohorts.map((c) => [c.weekStart, c.sessions, c.completed]));
    await byTestId(page, 'stats-type').selectOption('');
    await expectTrend('starts', 'week');
    await byTestId(page, 'trend-metric').selectOption('median_time_to_complete');
    await expectTrend('median_time_to_complete', 'week');

    // Cohorts: every cohort in the table, and the chart's series are the cohorts with a curve.
    await waitForAttr(page, 'cohort-chart', 'data-type', '');
    await waitForAttr(page, 'cohort-chart', 'data-state', 'ready');
    const cohorts = await a.statisticsCohorts();
    expect(cohorts.cohorts.reduce((n, c) => n + c.sessions, 0)).toBe(3);
    const shownCohorts = await page.evaluate(() => {
      const fig = document.querySelector('[data-testid="cohort-chart"]') as HTMLElement;
      return {
        points: JSON.parse(fig.dataset.points ?? '[]') as unknown,
        rows: Array.from(fig.querySelectorAll('[data-testid="cohort-points"] tbody tr')).map((tr) => ({
          weekStart: tr.getAttribute('data-week-start'),
          sessions: Number(tr.getAttribute('data-sessions')),
          completed: Number(tr.getAttribute('data-completed')),
          curve: JSON.parse(tr.getAttribute('data-curve') ?? '[]') as unknown,
        })),
        canvases: Array.from(fig.querySelectorAll('canvas')).length,
      };
    });
    expect(shownCohorts.rows).toEqual(
      cohorts.cohorts.map((c) => ({
        weekStart: c.weekStart,
        sessions: c.sessions,
        completed: c.completed,
        curve: c.curve.map((p) => [p.week, p.completed, p.share]),
      })),
    );
    const curves = cohorts.cohorts.filter((c) => c.sessions > 0 && c.curve.length > 0);
    expect(shownCohorts.points).toEqual(curves.map((c) => ({ weekStart: c.weekStart, points: c.curve.map((p) => [p.week, p.share]) })));
    // Sessions seeded now are in this week's cohort, which has no whole week behind it: no line yet, and the
    // page says so instead of drawing empty axes.
    if (curves.length === 0) {
      expect(shownCohorts.canvases).toBe(0);
      await byTestId(page, 'cohort-empty').waitFor();
      expect(await byTestId(page, 'cohort-summary').textContent()).toContain(`${cohorts.cohorts.at(-1)?.sessions ?? 0} started, 1 completed`);
    } else {
      expect(shownCohorts.canvases).toBeGreaterThan(0);
    }
    await screenshot(page, '11-statistics-charts');
    expect(problems.errors).toEqual([]);
    await close();
  });

  it('CORS: the preflights for PUT and DELETE from the console origin pass, and the page sets and removes business hours', async () => {
    const t = tokens('browser-tenant-6');
    for (const method of ['PUT', 'DELETE']) {
      const res = await fetch(`${system.gateway.url}/onboarding/business-hours`, {
        method: 'OPTIONS',
        headers: {
          origin: web.origin,
          'access-control-request-method': method,
          'access-control-request-headers': 'authorization,content-type,x-correlation-id',
        },
      });
      expect(res.status, `${method} preflight`).toBeLessThan(300);
      expect(res.headers.get('access-control-allow-origin')).toBe(web.origin);
      expect(res.headers.get('access-control-allow-methods')?.split(/\s*,\s*/)).toContain(method);
      expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toMatch(/authorization/);
    }

    const { page, problems, close } = await openPage(browser);
    const writes: Array<{ method: string; status: number }> = [];
    page.on('response', (res) => {
      if (new URL(res.url()).pathname === '/onboarding/business-hours' && res.request().method() !== 'GET')
        writes.push({ method: res.request().method(), status: res.status() });
    });
    await openSignedIn(page, t.admin(), '#/statistics');
    await byTestId(page, 'bh-set').click();
    await waitForAttr(page, 'bh-status', 'data-configured', 'true');
    expect((await api(t.admin()).businessHoursGet()).configured).toBe(true);
    await byTestId(page, 'bh-delete').click();
    await waitForAttr(page, 'bh-status', 'data-configured', 'false');
    await waitForText(page, 'bh-result', /removed/);
    expect((await api(t.admin()).businessHoursGet()).configured).toBe(false);
    expect(writes).toEqual([
      { method: 'PUT', status: 200 },
      { method: 'DELETE', status: 200 },
    ]);
    await screenshot(page, '11-business-hours');
    expect(problems.errors).toEqual([]);
    await close();
  });
});
