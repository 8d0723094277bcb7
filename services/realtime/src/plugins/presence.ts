import { randomUUID } from 'node:crypto';
import { BrokerStateError, requireBucket, type KeyValueStore } from '@glavito/bus';
import fp from 'fastify-plugin';
import type { RealtimeConfig } from '../config.js';

declare module 'fastify' {
  interface FastifyInstance {
    replicaId: string;
    /** Sockets joined to a session / of a user, summed over every live replica. */
    countClients: (kind: 'sessions' | 'users', id: string) => Promise<number>;
    /** Writes this replica's counts soon (debounced). */
    presenceChanged: () => void;
  }
}

/**
 * Presence across replicas in a NATS KV bucket: one key per replica holding its socket counts, written
 * on change and refreshed well within the bucket TTL, so a crashed replica's counts expire by themselves.
 */
export const presencePlugin = fp<{ config: RealtimeConfig }>(
  async (app, { config }) => {
    const replicaId = randomUUID().replaceAll('-', '');
    // The bucket belongs to the broker migration: opened here, never created or changed.
    const ttlProblems = await requireBucket(app.bus, config.PRESENCE_BUCKET, config.PRESENCE_TTL).catch((err: unknown) => {
      if (err instanceof BrokerStateError) app.log.error(err.message);
      throw err;
    });
    if (ttlProblems.length > 0) app.log.error(new BrokerStateError(ttlProblems).message);
    const kv: KeyValueStore = await app.bus.keyValue(config.PRESENCE_BUCKET, config.PRESENCE_TTL);
    let pending: NodeJS.Timeout | null = null;
    let closed = false;
    const write = async () => {
      pending = null;
      if (closed) return;
      await kv.put(replicaId, JSON.stringify(app.hub.counts())).catch((err: Error) => app.log.warn({ err: err.message }, 'presence: write failed'));
    };
    const refresh = setInterval(() => void write(), Math.max(1000, Math.floor(config.PRESENCE_TTL / 3)));
    refresh.unref();

    app.decorate('replicaId', replicaId);
    app.decorate('presenceChanged', () => {
      pending ??= setTimeout(() => void write(), 50);
    });
    app.decorate('countClients', async (kind: 'sessions' | 'users', id: string) => {
      let total = 0;
      for (const key of await kv.keys()) {
        const value = await kv.get(key);
        if (!value) continue;
        const counts = JSON.parse(value) as Record<'sessions' | 'users', Record<string, number>>;
        total += counts[kind]?.[id] ?? 0;
      }
      return total;
    });
    await write();

    app.addHook('onClose', async () => {
      closed = true;
      clearInterval(refresh);
      if (pending) clearTimeout(pending);
      await kv.delete(replicaId).catch(() => {});
    });
  },
  { name: 'presence', dependencies: ['bus', 'hub'] },
);
