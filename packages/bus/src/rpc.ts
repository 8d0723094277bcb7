import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { z } from 'zod';
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

/**
 * Answers requests on `subject` in a queue group (replicas share the load). Requests and replies are
 * validated with their contracts; a failing handler replies `{ error }` instead of leaving the caller hanging.
 */
export function serveRpc<Req extends z.ZodType, Rep extends z.ZodType>(opts: {
  nc: NatsConnection;
  subject: string;
  queue: string;
  request: Req;
  reply: Rep;
  logger: BusLogger;
  handler: (req: z.infer<Req>) => Promise<z.infer<Rep>>;
}): Subscription {
  const sub = opts.nc.subscribe(opts.subject, {
    queue: opts.queue,
    callback: (err, msg) => {
      if (err) return;
      void (async () => {
        try {
          const req = opts.request.parse(msg.json());
          const rep = opts.reply.parse(await opts.handler(req));
          msg.respond(JSON.stringify(rep));
        } catch (e) {
          opts.logger.warn({ subject: opts.subject, err: (e as Error).message.slice(0, 300) }, 'rpc: request failed');
          msg.respond(JSON.stringify({ error: (e as Error).name === 'ZodError' ? 'invalid request' : 'internal error' }));
        }
      })();
    },
  });
  return sub;
}

export async function callRpc<Rep extends z.ZodType>(nc: NatsConnection, subject: string, payload: unknown, reply: Rep, timeoutMs = 2000): Promise<z.infer<Rep>> {
  let raw: unknown;
  try {
    const msg = await nc.request(subject, JSON.stringify(payload), { timeout: timeoutMs });
    raw = msg.json();
  } catch (err) {
    const text = String((err as Error).message ?? err);
    throw new RpcError(`${subject}: ${text}`, /no responders|503/i.test(text) ? 'no_responders' : 'timeout');
  }
  if (raw && typeof raw === 'object' && 'error' in raw) throw new RpcError(`${subject}: ${String((raw as { error: unknown }).error)}`, 'remote_error');
  const parsed = reply.safeParse(raw);
  if (!parsed.success) throw new RpcError(`${subject}: reply breaks its contract`, 'bad_reply');
  return parsed.data;
}
