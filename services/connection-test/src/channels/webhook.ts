import { createHmac } from 'node:crypto';
import { WebhookConfigSchema } from '@glavito/contracts';
import { Agent, request } from 'undici';
import { pinnedLookup, resolveTarget } from '../domain/outbound-policy.js';
import { ConnectionTestFailure } from '../domain/result.js';
import type { Channel } from './types.js';

const MAX_REDIRECTS = 3;

function statusFailure(status: number): ConnectionTestFailure {
  if (status === 401 || status === 403)
    return new ConnectionTestFailure('auth_invalid', `The endpoint refused the request (${status})`, 'The endpoint rejected the request: check the signing secret and any authentication it expects.');
  if (status === 429) return new ConnectionTestFailure('rate_limited', 'The endpoint is rate limiting (429)', 'Wait a moment and try again.');
  if (status >= 500) return new ConnectionTestFailure('provider_unavailable', `The endpoint answered ${status}`, 'Your endpoint had an error; check its logs.');
  return new ConnectionTestFailure('config_invalid', `The endpoint answered ${status}`, 'Check the URL path and that the endpoint accepts POST requests with a JSON body.');
}

/**
 * POSTs a signed JSON test body. Every hop's host is resolved and checked, and the socket goes to
 * exactly that checked address (no second DNS lookup); redirects are followed by hand and re-checked.
 */
export const webhookChannel: Channel<typeof WebhookConfigSchema> = {
  schema: WebhookConfigSchema,
  summarize: (c) => {
    const u = new URL(c.url);
    return { url: `${u.protocol}//${u.host}${u.pathname}`, signed: c.secret !== undefined };
  },
  async test(config, ctx) {
    const body = JSON.stringify({ test: true, timestamp: new Date().toISOString(), message: 'Connection test from Glavito' });
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Glavito-Webhook-Test/1.0' };
    if (config.secret) headers['x-glavito-signature'] = `sha256=${createHmac('sha256', config.secret).update(body).digest('hex')}`;

    let url = new URL(config.url);
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const target = await ctx.step(hop === 0 ? 'dns' : `dns (redirect ${hop})`, () => resolveTarget(ctx.policy, url.hostname, ctx.lookup), (t) => t.address);
      const agent = new Agent({
        connect: { lookup: pinnedLookup(target.address, target.family), timeout: ctx.timeoutMs },
        headersTimeout: ctx.timeoutMs,
        bodyTimeout: ctx.timeoutMs,
      });
      try {
        const res = await ctx.step(hop === 0 ? 'request' : `request (redirect ${hop})`, () =>
          request(url, { method: 'POST', body, headers, dispatcher: agent, signal: ctx.signal }),
          (r) => `HTTP ${r.statusCode}`,
        );
        await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
        const location = res.headers.location;
        if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string') {
          if (hop === MAX_REDIRECTS) throw new ConnectionTestFailure('config_invalid', `More than ${MAX_REDIRECTS} redirects`, 'Point the webhook at its final URL.');
          const next = new URL(location, url);
          if (!['http:', 'https:'].includes(next.protocol)) throw new ConnectionTestFailure('config_invalid', `Redirect to unsupported ${next.protocol}`, 'Point the webhook at its final URL.');
          url = next;
          continue;
        }
        if (res.statusCode < 200 || res.statusCode >= 300) {
          ctx.skip('response', `HTTP ${res.statusCode}`);
          throw statusFailure(res.statusCode);
        }
        return { message: `The endpoint accepted the test event (HTTP ${res.statusCode})`, details: { url: `${url.protocol}//${url.host}${url.pathname}`, statusCode: res.statusCode, redirects: hop, signed: config.secret !== undefined } };
      } finally {
        await agent.close().catch(() => {});
      }
    }
    throw new ConnectionTestFailure('config_invalid', 'Too many redirects', 'Point the webhook at its final URL.');
  },
};
