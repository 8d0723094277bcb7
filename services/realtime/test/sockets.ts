import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { FastifyInstance } from 'fastify';
import { WebSocket, type ClientOptions } from 'ws';
import { recordFrames, tokenFor, type Harness } from './helpers.js';

export type User = { userId: string; tenantId: string; roles?: string[] };

/** Listens on an ephemeral loopback port (real TCP: backpressure, ping/pong and close codes as in production). */
export async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no TCP address');
  return `ws://127.0.0.1:${address.port}/onboarding`;
}

/** A real `ws` client over loopback, recording every frame from the first byte; resolves once open. */
export async function openSocket(url: string, user: User, options: ClientOptions = {}) {
  const ws = new WebSocket(`${url}?token=${tokenFor(user)}`, { perMessageDeflate: false, ...options });
  const recorder = recordFrames(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return recorder;
}

/** Resolves with the close code and reason, or rejects after `timeoutMs`. */
export function closed(ws: WebSocket, timeoutMs = 5000): Promise<{ code: number; reason: string; afterMs: number }> {
  const started = Date.now();
  if (ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error('already closed before waiting'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket not closed within ${timeoutMs} ms`)), timeoutMs);
    ws.once('close', (code: number, reason: Buffer) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString(), afterMs: Date.now() - started });
    });
  });
}

/** GET on an instance with a bearer token (no network: app.inject). */
export async function getAs(app: FastifyInstance, url: string, user: User) {
  const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${tokenFor(user)}` } });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

/** Closes the harness and deletes its presence bucket (the harness only deletes streams named after its event stream). */
export async function closeHarness(h: Harness): Promise<void> {
  await h.close();
  const nc = await connect({ servers: h.nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(`KV_${h.config.PRESENCE_BUCKET}`).catch(() => false);
  } finally {
    await nc.close();
  }
}

let gcFn: (() => void) | undefined;
/** A full GC, so memory readings compare live objects rather than garbage (works without --expose-gc). */
export function collectGarbage(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
