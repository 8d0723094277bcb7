/**
 * The whole system in one process with no servers installed: an embedded Postgres (PGlite, persisted in
 * a folder, reached over its Postgres wire-protocol socket so the services' `pg` code runs unchanged),
 * the in-process event bus, and every service plus the gateway on their usual ports.
 */
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { brokerState, loadBrokerSettings } from '@glavito/broker';
import { migrateEventBus, type EventBus } from '@glavito/bus';
import { createMemoryBus } from '@glavito/bus-memory';
import { createPool, type Pool } from '@glavito/db';
import { buildApp as buildConnectionTest } from '@glavito/connection-test/app';
import { loadConnectionTestConfig } from '@glavito/connection-test/config';
import { buildApp as buildGateway } from '@glavito/gateway/app';
import { loadGatewayConfig } from '@glavito/gateway/config';
import { buildApp as buildProgress } from '@glavito/progress/app';
import { loadProgressConfig } from '@glavito/progress/config';
import { buildApp as buildPayment } from '@glavito/payment/app';
import { loadPaymentConfig } from '@glavito/payment/config';
import { buildApp as buildRealtime } from '@glavito/realtime/app';
import { loadRealtimeConfig } from '@glavito/realtime/config';
import { buildApp as buildNotification } from '@glavito/notification/app';
import { loadNotificationConfig } from '@glavito/notification/config';
import { buildApp as buildAudit } from '@glavito/audit/app';
import { loadAuditConfig } from '@glavito/audit/config';
import { buildApp as buildSession } from '@glavito/session/app';
import { loadSessionConfig } from '@glavito/session/config';
import type { FastifyInstance } from 'fastify';

export interface EmbeddedOptions {
  /** Where PGlite keeps its files (restarting keeps the data). */
  dataDir: string;
  /** `notification` on a free port when not given. */
  ports: {
    gateway: number;
    session: number;
    progress: number;
    connectionTest: number;
    realtime: number;
    payment?: number;
    notification?: number;
    audit?: number;
  };
  /** Shared settings (JWT_SECRET, STEP_DATA_ENCRYPTION_KEY, LOG_LEVEL, …). */
  env: Record<string, string | undefined>;
}

export interface EmbeddedSystem {
  gatewayUrl: string;
  bus: EventBus;
  pool: Pool;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.once('error', reject);
  });
}

export async function startEmbedded(opts: EmbeddedOptions): Promise<EmbeddedSystem> {
  mkdirSync(opts.dataDir, { recursive: true });
  const db = await PGlite.create(opts.dataDir);
  const pgPort = await freePort();
  // PGlite is single-session: one socket connection, and one pooled client shared by every service,
  // so each transaction runs alone (a client is held for the whole BEGIN … COMMIT).
  const socket = new PGLiteSocketServer({ db, port: pgPort, host: '127.0.0.1', maxConnections: 1 });
  await socket.start();
  const databaseUrl = `postgres://postgres@127.0.0.1:${pgPort}/postgres`;
  const pool = createPool({
    connectionString: databaseUrl,
    max: 1,
    applicationName: 'glavito-embedded',
    connectionTimeoutMillis: 60_000,
    statementTimeoutMillis: 60_000,
  });
  const bus = createMemoryBus();
  const infra = { pool, bus };
  const host = '127.0.0.1';
  const base = { ...opts.env, HOST: host, DATABASE_URL: databaseUrl, NATS_URL: 'memory://in-process', MIGRATE_ON_START: 'true' };
  const url = (port: number) => `http://127.0.0.1:${port}`;

  const apps: FastifyInstance[] = [];
  const listen = async (app: FastifyInstance, port: number) => {
    apps.push(app);
    await app.listen({ port, host });
  };
  try {
    // The same broker state `pnpm bus:migrate` applies to NATS, applied to the in-process bus.
    await migrateEventBus(bus, brokerState(loadBrokerSettings(base)));
    // Migrations share the one connection: services start one after the other.
    await listen(await buildSession(loadSessionConfig({ ...base, PORT: String(opts.ports.session) }), { infra }), opts.ports.session);
    await listen(await buildProgress(loadProgressConfig({ ...base, PORT: String(opts.ports.progress) }), { infra }), opts.ports.progress);
    await listen(
      await buildConnectionTest(loadConnectionTestConfig({ ...base, PORT: String(opts.ports.connectionTest) }), { infra }),
      opts.ports.connectionTest,
    );
    await listen(await buildRealtime(loadRealtimeConfig({ ...base, PORT: String(opts.ports.realtime) }), { infra }), opts.ports.realtime);
    // Payments need STRIPE_SECRET_KEY (503 naming it otherwise); a free port when not given.
    const paymentPort = opts.ports.payment ?? (await freePort());
    await listen(await buildPayment(loadPaymentConfig({ ...base, PORT: String(paymentPort) }), { infra }), paymentPort);
    // In-app notifications only, unless NOTIFY_SMTP_URL is set.
    const notificationPort = opts.ports.notification ?? (await freePort());
    await listen(await buildNotification(loadNotificationConfig({ ...base, PORT: String(notificationPort) }), { infra }), notificationPort);
    // The audit trail: records of every service's audit events, hash-chained per tenant.
    const auditPort = opts.ports.audit ?? (await freePort());
    await listen(await buildAudit(loadAuditConfig({ ...base, PORT: String(auditPort) }), { infra }), auditPort);
    const gateway = await buildGateway(
      loadGatewayConfig({
        ...base,
        PORT: String(opts.ports.gateway),
        SESSION_URL: url(opts.ports.session),
        PROGRESS_URL: url(opts.ports.progress),
        CONNECTION_TEST_URL: url(opts.ports.connectionTest),
        REALTIME_URL: url(opts.ports.realtime),
        PAYMENT_URL: url(paymentPort),
        NOTIFICATION_URL: url(notificationPort),
        AUDIT_URL: url(auditPort),
      }),
      // Refusals at the edge go to the in-process bus's audit stream.
      { auditBus: bus },
    );
    await listen(gateway, opts.ports.gateway);
  } catch (err) {
    await Promise.allSettled(apps.reverse().map((a) => a.close()));
    await pool.end().catch(() => {});
    await socket.stop().catch(() => {});
    await db.close().catch(() => {});
    throw err;
  }

  return {
    gatewayUrl: url(opts.ports.gateway),
    bus,
    pool,
    async stop() {
      // The gateway first (no new requests), then the services, then the bus, the pool and the database.
      for (const app of [...apps].reverse()) await app.close().catch(() => {});
      await bus.close();
      await pool.end().catch(() => {});
      await socket.stop().catch(() => {});
      await db.close();
    },
  };
}
