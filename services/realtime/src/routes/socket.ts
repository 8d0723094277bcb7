import { randomUUID } from 'node:crypto';
import { callRpc, createEdgeAuditor, RpcError } from '@glavito/bus';
import { auditNames } from '@glavito/config';
import {
  AUDIT_NO_TENANT,
  ClientFrameSchema,
  MAX_FRAME_ID_LENGTH,
  ProgressGetReplySchema,
  rpcSubject,
  SessionGetReplySchema,
  WS_CLOSE,
  type ClientFrame,
  type Principal,
} from '@glavito/contracts';
import { auditContextOf, type AuditRequestContext } from '@glavito/http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { RealtimeConfig } from '../config.js';
import { toPushFrame } from '../domain/frames.js';
import { isPersonal } from '../domain/hub.js';
import type { Client } from '../domain/hub.js';

function tokenOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header === 'string' && header.startsWith('Bearer ')) return header.slice(7);
  const query = request.query as { token?: unknown };
  return typeof query.token === 'string' ? query.token : null;
}

const MAX_VIOLATIONS = 50;

function readJson(raw: Buffer, isBinary: boolean): unknown {
  if (isBinary) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** `{ id }` of a client frame whose `id` is a string of allowed length, else nothing. */
function idOf(json: unknown): { id?: string } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return {};
  const id = (json as { id?: unknown }).id;
  return typeof id === 'string' && id.length <= MAX_FRAME_ID_LENGTH ? { id } : {};
}

/** GET /onboarding upgraded: the protocol of ARCHITECTURE §4. */
export async function socketRoutes(app: FastifyInstance, { config }: { config: RealtimeConfig }) {
  const hub = app.hub;
  const rpc = (method: 'session.get' | 'progress.get') => rpcSubject(config.RPC_SUBJECT_PREFIX, method);
  const callerOf = (p: Principal) => ({ userId: p.userId, tenantId: p.tenantId, isAdmin: p.isAdmin });
  // Refused sockets and joins are recorded like the gateway's refusals: published directly, sampled per actor per
  // minute (createEdgeAuditor); a failed publish is a metric and a log line, never a change to the answer.
  const refusals = app.metrics.counter('audit_publish_failures_total', 'Audit events of refusals that could not be published');
  const sampled = app.metrics.counter('audit_denials_sampled_total', 'Refusals folded into a per-minute summary record instead of one record each');
  const auditor = createEdgeAuditor({
    bus: app.bus,
    subjectPrefix: auditNames(config).subjectPrefix,
    logger: app.log,
    onFailure: () => refusals.inc(),
    onSampled: () => sampled.inc(),
  });
  app.addHook('onClose', async () => auditor.stop());
  const origins = new WeakMap<Client, AuditRequestContext>();

  async function mayWatch(p: Principal, sessionId: string): Promise<boolean> {
    const reply = await callRpc(app.bus, rpc('session.get'), { sessionId, caller: callerOf(p) }, SessionGetReplySchema, 3000);
    return reply.found;
  }

  async function handle(c: Client, frame: ClientFrame): Promise<void> {
    // `id: ""` is an id too: every frame that carries one gets it back.
    const reply = (event: string, data: Record<string, unknown>) => hub.send(c, { event, data, ...(frame.id !== undefined ? { id: frame.id } : {}) });
    const fail = (code: string, message: string) => reply('error', { code, message, sessionId: frame.data.sessionId });
    try {
      switch (frame.event) {
        case 'join_session': {
          const { sessionId, lastEventId } = frame.data;
          // Another tenant's or another agent's session looks exactly like a missing one.
          if (!(await mayWatch(c.principal, sessionId))) {
            auditor.record({
              ...(origins.get(c) ?? {
                actor: { subject: c.principal.userId, roles: c.principal.roles },
                requestId: null,
                correlationId: null,
                clientIp: null,
                userAgent: null,
              }),
              tenantId: c.principal.tenantId,
              action: 'access.denied',
              target: { type: 'session', id: sessionId.slice(0, 128) },
              outcome: { result: 'denied', code: 'session_not_found' },
              details: { route: 'GET /onboarding (websocket)', frame: 'join_session' },
            });
            return void fail('session_not_found', `Session ${sessionId} not found`);
          }
          if (!lastEventId) {
            hub.join(c, sessionId);
            return void reply('session_joined', { sessionId, recovered: false, replayed: 0 });
          }
          // Live events arriving while the stream is read wait in the hub, then follow the replay.
          hub.beginReplay(c, sessionId);
          hub.join(c, sessionId);
          const replay = await app.replaySession(c.principal.tenantId, sessionId, lastEventId).catch(() => ({ found: false, fromSeq: 0, events: [] }));
          reply('session_joined', {
            sessionId,
            recovered: replay.found,
            replayed: replay.events.filter((e) => toPushFrame(e.event) !== null && !isPersonal(e.event)).length,
          });
          // Unknown or too old: nothing is replayed; the client refetches and gets live events from now on.
          hub.endReplay(c, sessionId, replay.fromSeq, replay.events);
          return;
        }
        case 'leave_session':
          hub.leave(c, frame.data.sessionId);
          return void reply('session_left', { sessionId: frame.data.sessionId });
        case 'get_progress': {
          const r = await callRpc(
            app.bus,
            rpc('progress.get'),
            { sessionId: frame.data.sessionId, caller: callerOf(c.principal) },
            ProgressGetReplySchema,
            3000,
          );
          if (!r.found) return void fail('session_not_found', `Session ${frame.data.sessionId} not found`);
          return void reply('progress_update', {
            sessionId: frame.data.sessionId,
            timestamp: new Date().toISOString(),
            progress: r.progress,
            seq: r.progress.seq,
          });
        }
      }
    } catch (err) {
      const unavailable = err instanceof RpcError;
      app.log.warn({ err: (err as Error).message, frame: frame.event }, 'realtime: frame failed');
      fail(unavailable ? 'upstream_unavailable' : 'internal_error', unavailable ? 'A backing service did not answer; retry shortly' : 'The request failed');
    }
  }

  app.get('/onboarding', { websocket: true }, (socket: WebSocket, request) => {
    let principal: Principal;
    try {
      const token = tokenOf(request);
      if (!token) throw new Error('a token is required (?token= or Authorization: Bearer)');
      principal = app.verifyToken(token);
    } catch (err) {
      auditor.record({
        ...auditContextOf(request, null),
        clientIp: request.ip ?? null,
        tenantId: AUDIT_NO_TENANT,
        action: 'access.denied',
        target: { type: 'route', id: 'GET /onboarding (websocket)' },
        outcome: { result: 'denied', code: String(WS_CLOSE.unauthorized) },
        details: { route: 'GET /onboarding (websocket)', method: 'GET' },
      });
      socket.close(WS_CLOSE.unauthorized, `unauthorized: ${(err as Error).message}`.slice(0, 120));
      return;
    }
    const c = hub.connect(randomUUID(), socket, principal);
    origins.set(c, { ...auditContextOf(request, principal), clientIp: request.ip ?? null });
    socket.on('pong', () => {
      c.pingedAt = null;
    });
    socket.on('close', () => hub.disconnect(c));
    socket.on('error', () => hub.disconnect(c));
    socket.on('message', (raw: Buffer, isBinary: boolean) => {
      if (!hub.allowMessage(c)) {
        if (c.violations > MAX_VIOLATIONS) socket.close(WS_CLOSE.rateLimited, 'too many messages');
        else
          hub.send(c, {
            event: 'error',
            data: { code: 'rate_limited', message: `At most ${config.WS_MESSAGES_PER_SECOND} messages per second` },
            ...idOf(readJson(raw, isBinary)),
          });
        return;
      }
      let frame: ClientFrame;
      const json = readJson(raw, isBinary);
      try {
        if (isBinary) throw new Error('binary frames are not supported');
        if (json === undefined) throw new Error('the frame is not JSON');
        const parsed = ClientFrameSchema.safeParse(json);
        if (!parsed.success)
          throw new Error(
            parsed.error.issues
              .map((i) => `${i.path.join('.') || 'frame'}: ${i.message}`)
              .join('; ')
              .slice(0, 300),
          );
        frame = parsed.data;
      } catch (err) {
        // The request id comes back whenever the frame had a readable one, so the caller learns why at once.
        hub.send(c, { event: 'error', data: { code: 'bad_frame', message: (err as Error).message }, ...idOf(json) });
        return;
      }
      void handle(c, frame);
    });
    hub.send(c, { event: 'connected', data: { clientId: c.id, userId: principal.userId, tenantId: principal.tenantId, heartbeatMs: config.WS_HEARTBEAT_MS } });
  });
}
