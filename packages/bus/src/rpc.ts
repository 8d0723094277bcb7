import type { z } from 'zod';
import type { NatsConnection } from '@nats-io/transport-node';
import { BusRequestError, type EventBus, type Stoppable } from './event-bus.js';
import { natsRequestReply } from './nats-bus.js';
import type { BusLogger } from './nats.js';

export class RpcError extends Error {
  constructor(
    message: string,
    public readonly code: 'timeout' | 'no_responders' | 'bad_reply' | 'remote_error',
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** An EventBus, or a bare NATS connection (tests faking a service at its NATS boundary). */
export type RpcTransport = Pick<EventBus, 'request' | 'serve'> | NatsConnection;
const transport = (t: RpcTransport): Pick<EventBus, 'request' | 'serve'> => ('serve' in t ? t : natsRequestReply(t));

/**
 * Answers requests on `subject` in a queue group (replicas share the load). Requests and replies are
 * validated with their contracts; a failing handler replies `{ error }` instead of leaving the caller hanging.
 */
export function serveRpc<Req extends z.ZodType, Rep extends z.ZodType>(opts: {
  bus?: RpcTransport;
  /** Same as `bus`, for a bare NATS connection. */
  nc?: NatsConnection;
  subject: string;
  queue: string;
  request: Req;
  reply: Rep;
  logger: BusLogger;
  handler: (req: z.infer<Req>) => Promise<z.infer<Rep>>;
}): Stoppable & { unsubscribe(): void } {
  const served = transport((opts.bus ?? opts.nc)!).serve(opts.subject, opts.queue, async (payload) => {
    try {
      const req = opts.request.parse(JSON.parse(payload));
      return JSON.stringify(opts.reply.parse(await opts.handler(req)));
    } catch (e) {
      opts.logger.warn({ subject: opts.subject, err: (e as Error).message.slice(0, 300) }, 'rpc: request failed');
      return JSON.stringify({ error: (e as Error).name === 'ZodError' || e instanceof SyntaxError ? 'invalid request' : 'internal error' });
    }
  });
  return { stop: () => served.stop(), unsubscribe: () => void served.stop() };
}

export async function callRpc<Rep extends z.ZodType>(
  bus: RpcTransport,
  subject: string,
  payload: unknown,
  reply: Rep,
  timeoutMs = 2000,
): Promise<z.infer<Rep>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await transport(bus).request(subject, JSON.stringify(payload), timeoutMs));
  } catch (err) {
    if (err instanceof BusRequestError) throw new RpcError(err.message, err.code);
    throw new RpcError(`${subject}: reply is not JSON`, 'bad_reply');
  }
  if (raw && typeof raw === 'object' && 'error' in raw) throw new RpcError(`${subject}: ${String((raw as { error: unknown }).error)}`, 'remote_error');
  const parsed = reply.safeParse(raw);
  if (!parsed.success) throw new RpcError(`${subject}: reply breaks its contract`, 'bad_reply');
  return parsed.data;
}
