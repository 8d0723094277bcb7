import { createHmac } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { WebhookConfigSchema } from '@glavito/contracts';
import { Agent, buildConnector, request } from 'undici';
import { pinnedLookup, resolveTarget } from '../domain/outbound-policy.js';
import { classifyError, ConnectionTestFailure } from '../domain/result.js';
import { certificateFailure, judge, parseTrust, tlsOptions, verdictWarning, type TrustVerdict } from '../domain/tls-trust.js';
import type { Channel } from './types.js';

const TLS_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH|ALTNAME/;

function statusFailure(status: number): ConnectionTestFailure {
  if (status === 401 || status === 403)
    return new ConnectionTestFailure(
      'auth_invalid',
      `The endpoint refused the request (${status})`,
      'The endpoint rejected the request: check the signing secret and any authentication it expects.',
    );
  if (status === 429) return new ConnectionTestFailure('rate_limited', 'The endpoint is rate limiting (429)', 'Wait a moment and try again.');
  if (status >= 500) return new ConnectionTestFailure('provider_unavailable', `The endpoint answered ${status}`, 'Your endpoint had an error; check its logs.');
  if (status === 404) return new ConnectionTestFailure('config_invalid', 'The endpoint answered 404 (not found)', 'Check the URL path.');
  return new ConnectionTestFailure(
    'config_invalid',
    `The endpoint answered ${status}`,
    'Check the URL path and that the endpoint accepts POST requests with a JSON body.',
  );
}

const publicUrl = (u: URL) => `${u.protocol}//${u.host}${u.pathname}`;
const portOf = (u: URL) => Number(u.port || (u.protocol === 'https:' ? 443 : 80));

/**
 * POSTs a signed JSON test body to the checked address of the URL's host (no second DNS lookup).
 * Redirects are not followed: a signed POST is never re-sent to another URL; the test reports where the
 * endpoint points instead (a warning).
 */
export const webhookChannel: Channel<typeof WebhookConfigSchema> = {
  schema: WebhookConfigSchema,
  summarize: (c) => {
    const u = new URL(c.url);
    return {
      url: publicUrl(u),
      host: u.hostname,
      port: portOf(u),
      signed: c.secret !== undefined,
      ...(c.tls ? { tls: { customCa: c.tls.caCertificate !== undefined, allowSelfSigned: c.tls.allowSelfSigned === true } } : {}),
    };
  },
  targets: (c) => {
    const u = new URL(c.url);
    return [{ field: 'url', host: u.hostname, port: portOf(u) }];
  },
  async test(config, ctx) {
    const body = JSON.stringify({ test: true, timestamp: new Date().toISOString(), message: 'Connection test from Glavito' });
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Glavito-Webhook-Test/1.0' };
    if (config.secret) headers['x-glavito-signature'] = `sha256=${createHmac('sha256', config.secret).update(body).digest('hex')}`;

    const url = new URL(config.url);
    const trust = parseTrust(config.tls);
    const target = await ctx.step(
      'dns',
      () => resolveTarget(ctx.policy, url.hostname, ctx.lookup),
      (t) => t.address,
    );
    let verdict: TrustVerdict = url.protocol === 'https:' ? 'public' : 'unverified';
    const base = buildConnector({ ...tlsOptions(trust), lookup: pinnedLookup(target.address, target.family) as never, timeout: ctx.timeoutMs });
    // The handshake is judged before the request (and its signature) is written.
    const connect: buildConnector.connector = (opts, callback) =>
      base(opts, (err, socket) => {
        if (err || !socket) return callback(err ?? new Error('no socket'), null);
        if (url.protocol === 'https:') {
          try {
            verdict = judge(socket as TLSSocket, trust, url.hostname.replace(/^\[|\]$/g, ''), 'Webhook');
          } catch (failure) {
            socket.destroy();
            return callback(failure as Error, null);
          }
        }
        callback(null, socket);
      });
    const agent = new Agent({ connect, headersTimeout: ctx.timeoutMs, bodyTimeout: ctx.timeoutMs });
    try {
      const res = await ctx.step(
        'request',
        () =>
          request(url, { method: 'POST', body, headers, dispatcher: agent, signal: ctx.signal, maxRedirections: 0 } as never).catch((err: unknown) => {
            const e = err as { code?: string; cert?: never };
            if (e?.code && TLS_ERROR.test(e.code)) throw certificateFailure('Webhook', e.code, url.hostname, e.cert, trust);
            throw classifyError(err);
          }),
        (r) => `HTTP ${r.statusCode}`,
      );
      await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
      const trusted = verdictWarning(verdict, 'Webhook');
      if (trusted) ctx.warn('tls', trusted);
      const details = { url: publicUrl(url), statusCode: res.statusCode, signed: config.secret !== undefined, tls: verdict };
      const location = res.headers.location;
      if (res.statusCode >= 300 && res.statusCode < 400) {
        let where = typeof location === 'string' ? location : '';
        try {
          const next = new URL(where, url);
          where = publicUrl(next);
        } catch {
          // shown as the server sent it
        }
        ctx.warn('response', `HTTP ${res.statusCode} redirect${where ? ` to ${where}` : ''} not followed: a signed POST is never re-sent elsewhere`);
        return {
          message: `The endpoint answered ${res.statusCode} and redirects${where ? ` to ${where}` : ''}; the test did not follow it. Point the webhook at the final URL.`,
          details: { ...details, ...(where ? { location: where } : {}) },
        };
      }
      if (res.statusCode < 200 || res.statusCode >= 300) {
        const failure = statusFailure(res.statusCode);
        await ctx.step('response', () => Promise.reject(failure));
      }
      await ctx.step(
        'response',
        async () => res.statusCode,
        (s) => `HTTP ${s}`,
      );
      return { message: `The endpoint accepted the test event (HTTP ${res.statusCode})`, details };
    } finally {
      await agent.close().catch(() => {});
    }
  },
};
