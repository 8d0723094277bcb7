import { callRpc, RpcError } from '@glavito/bus';
import { rpcSubject, SessionGetReplySchema, type Principal } from '@glavito/contracts';
import { auditNames } from '@glavito/config';
import type { AuditRequestContext } from '@glavito/http';
import fp from 'fastify-plugin';
import { CHANNELS } from '../channels/index.js';
import type { Channel, ProviderUrls } from '../channels/types.js';
import type { ConnectionTestConfig } from '../config.js';
import { createOutboundPolicy, type Lookup } from '../domain/outbound-policy.js';
import type { ConnectionTestResult } from '../domain/result.js';
import { runConnectionTest, type RunnerDeps, type TestRequest } from '../domain/runner.js';
import { createKeyedLock } from '../domain/keyed-lock.js';
import { createSemaphore } from '../domain/semaphore.js';
import { RateLimitedError, SessionLookupUnavailableError, SessionNotFoundError } from '../errors.js';
import { createTestRunRepository, type KnownSession, type TestRunRepository } from '../repositories/test-run-repository.js';
// The metrics decorator's type lives with its plugin; the build (unlike typecheck) sees only what src imports.
import type {} from '@glavito/http/metrics';

declare module 'fastify' {
  interface FastifyInstance {
    testRuns: TestRunRepository;
    /** What the tests run with (channels, outbound policy, DNS lookup): validate-connection-config applies the same policy. */
    testerDeps: RunnerDeps;
    /** The session if the caller may test it (owner or same-tenant admin); 404 otherwise. */
    accessibleSession: (sessionId: string, principal: Principal) => Promise<KnownSession>;
    /** Counts `n` tests against the tenant's and the user's windows; 429 when either is exceeded. */
    enforceTestRateLimit: (principal: Principal, n: number) => Promise<void>;
    /** Runs tests in parallel (bounded per replica), records them and their events; one failure never stops the others. */
    runTests: (
      session: KnownSession,
      principal: Principal,
      correlationId: string,
      requests: TestRequest[],
      audit?: AuditRequestContext,
    ) => Promise<ConnectionTestResult[]>;
  }
}

export interface TesterOptions {
  config: ConnectionTestConfig;
  /** Tests may replace channels' DNS lookup (e.g. a name that resolves to loopback). */
  lookup?: Lookup;
  channels?: Record<string, Channel>;
}

export const testerPlugin = fp<TesterOptions>(
  async (app, { config, lookup, channels }) => {
    const repo = createTestRunRepository(app.pool, { subjectPrefix: config.EVENT_SUBJECT_PREFIX, publishCommitted: app.outboxRelay.publishCommitted });
    const semaphore = createSemaphore(config.CONNECTION_TEST_MAX_CONCURRENCY);
    const providers: ProviderUrls = {
      slackApiUrl: config.PROVIDER_SLACK_API_URL,
      microsoftLoginUrl: config.PROVIDER_MS_LOGIN_URL,
      whatsappGraphUrl: config.PROVIDER_WHATSAPP_GRAPH_URL,
      stripeApiUrl: config.PROVIDER_STRIPE_API_URL,
      openaiUrl: config.PROVIDER_OPENAI_URL,
      anthropicUrl: config.PROVIDER_ANTHROPIC_URL,
      googleAiUrl: config.PROVIDER_GOOGLE_AI_URL,
    };
    // One lock per replica: tests to one host:port wait for each other (replicas do not coordinate).
    const targetLock = createKeyedLock();
    const deps = {
      channels: channels ?? CHANNELS,
      policy: createOutboundPolicy(config.CONNECTION_TEST_ALLOWED_CIDRS),
      providers,
      defaultTimeoutMs: config.CONNECTION_TEST_DEFAULT_TIMEOUT,
      lookup,
      targetLock,
    };

    app.decorate('testRuns', repo);
    app.decorate('testerDeps', deps);
    const runs = app.metrics.counter('connection_tests_total', 'Connection tests by channel, status and error code', ['channel', 'status', 'error_code']);
    const durations = app.metrics.histogram(
      'connection_test_duration_seconds',
      'Connection test duration by channel',
      ['channel'],
      [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    );
    app.metrics.gauge('connection_tests_running', 'Connection tests running on this replica', () => semaphore.active);
    app.metrics.gauge('connection_tests_queued', 'Connection tests waiting for a slot on this replica', () => semaphore.queued);

    app.decorate('accessibleSession', async (sessionId: string, p: Principal) => {
      const known = await repo.findSession(sessionId, p);
      if (known) return known;
      // Not heard of yet (its events may still be on the way): ask the session service.
      try {
        const reply = await callRpc(
          app.bus,
          rpcSubject(config.RPC_SUBJECT_PREFIX, 'session.get'),
          { sessionId, caller: { userId: p.userId, tenantId: p.tenantId, isAdmin: p.isAdmin } },
          SessionGetReplySchema,
          3000,
        );
        if (!reply.found) throw new SessionNotFoundError(sessionId);
        const s = { sessionId: reply.session.id, tenantId: reply.session.tenantId, userId: reply.session.userId, status: reply.session.status };
        await repo.rememberSession(s, 0);
        return s;
      } catch (err) {
        if (err instanceof RpcError) throw new SessionLookupUnavailableError();
        throw err;
      }
    });

    app.decorate('enforceTestRateLimit', async (p: Principal, n: number) => {
      const { counts, resetsAt } = await repo.countRequests(
        [`tenant:${p.tenantId}`, `user:${p.tenantId}:${p.userId}`],
        n,
        config.CONNECTION_TEST_RATE_WINDOW,
        new Date(),
      );
      const [tenantCount = 0, userCount = 0] = counts;
      const over = tenantCount > config.CONNECTION_TEST_TENANT_LIMIT ? 'tenant' : userCount > config.CONNECTION_TEST_USER_LIMIT ? 'user' : null;
      if (over) {
        const limit = over === 'tenant' ? config.CONNECTION_TEST_TENANT_LIMIT : config.CONNECTION_TEST_USER_LIMIT;
        const err = new RateLimitedError(
          `Too many connection tests for this ${over} (${limit} per ${Math.round(config.CONNECTION_TEST_RATE_WINDOW / 1000)} s); retry after ${resetsAt.toISOString()}`,
        );
        throw Object.assign(err, { retryAfterSeconds: Math.max(1, Math.ceil((resetsAt.getTime() - Date.now()) / 1000)) });
      }
    });

    app.decorate('runTests', async (session: KnownSession, p: Principal, correlationId: string, requests: TestRequest[], audit?: AuditRequestContext) => {
      const outcomes = await Promise.all(requests.map((r) => semaphore.run(() => runConnectionTest(r, deps))));
      await repo.record(session, p.userId, correlationId, outcomes, audit ? { subjectPrefix: auditNames(config).subjectPrefix, context: audit } : undefined);
      for (const { result } of outcomes) {
        runs.inc({ channel: result.channel, status: result.status, error_code: result.errorCode ?? 'none' });
        durations.observe({ channel: result.channel }, result.responseTime / 1000);
      }
      return outcomes.map((o) => o.result);
    });
  },
  { name: 'tester', dependencies: ['db', 'bus', 'metrics'] },
);
