import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { parseEvent, type EventEnvelope } from '@glavito/contracts';
import type { BusLogger as Logger } from './nats.js';

/** Throw from a handler for a message that can never succeed: it is terminated and dead-lettered. */
export class PoisonMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoisonMessageError';
  }
}

/** Throw from a handler to redeliver later without counting it as a failure (e.g. a sequence gap). */
export class RetryLaterError extends Error {
  constructor(
    message: string,
    public readonly delayMs = 500,
  ) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

export interface ConsumerOptions {
  js: JetStreamClient;
  stream: string;
  durable: string;
  logger: Logger;
  handler: (event: EventEnvelope, msg: JsMsg) => Promise<void>;
  /** Must equal the durable's max_deliver: on the last attempt a failing message is dead-lettered. */
  maxDeliver?: number;
  deadLetterSubject: string;
  batchSize?: number;
  backoffMs?: (deliveryCount: number) => number;
}

export interface ConsumerHandle {
  stop(): Promise<void>;
  /** Resolves when the loop ends (after stop). */
  done: Promise<void>;
}

/**
 * Pulls from a durable consumer, one message at a time per replica, and acks only after the
 * handler (which commits its own transaction) returns.
 */
export async function runConsumer(opts: ConsumerOptions): Promise<ConsumerHandle> {
  const { js, logger } = opts;
  const maxDeliver = opts.maxDeliver ?? 10;
  const backoff = opts.backoffMs ?? ((n: number) => Math.min(250 * 2 ** (n - 1), 10_000));
  const consumer = await js.consumers.get(opts.stream, opts.durable);
  const messages = await consumer.consume({ max_messages: opts.batchSize ?? 64 });
  let stopped = false;

  async function deadLetter(msg: JsMsg, reason: string): Promise<void> {
    const headers = natsHeaders();
    headers.set('Glavito-Original-Subject', msg.subject);
    headers.set('Glavito-Dead-Letter-Reason', reason.replace(/[\r\n]+/g, ' ').slice(0, 500));
    headers.set('Glavito-Delivery-Count', String(msg.info.deliveryCount));
    try {
      await js.publish(opts.deadLetterSubject, msg.data, { msgID: `dlq:${msg.info.stream}:${msg.seq}`, headers });
    } catch (err) {
      // Keep the message rather than lose it: it comes back and is dead-lettered on a later try.
      logger.error({ err: (err as Error).message }, 'consumer: dead-letter publish failed; will retry');
      msg.nak(5000);
      return;
    }
    logger.error({ subject: msg.subject, streamSeq: msg.seq, reason }, 'consumer: message dead-lettered');
    // No reason: nats-server 2.9 ignores `+TERM <reason>` and would redeliver the message after ack_wait.
    msg.term();
  }

  const done = (async () => {
    for await (const msg of messages) {
      if (stopped) break;
      let event: EventEnvelope;
      try {
        event = parseEvent(JSON.parse(new TextDecoder().decode(msg.data)));
      } catch (err) {
        await deadLetter(msg, `contract violation: ${(err as Error).message.slice(0, 300)}`);
        continue;
      }
      try {
        await opts.handler(event, msg);
        msg.ack();
      } catch (err) {
        if (err instanceof PoisonMessageError) {
          await deadLetter(msg, err.message);
        } else if (err instanceof RetryLaterError) {
          msg.nak(err.delayMs);
        } else if (msg.info.deliveryCount >= maxDeliver) {
          await deadLetter(msg, `failed ${msg.info.deliveryCount} times: ${(err as Error).message}`);
        } else {
          const delay = backoff(msg.info.deliveryCount);
          logger.warn({ eventId: event.id, type: event.type, attempt: msg.info.deliveryCount, err: (err as Error).message, retryInMs: delay }, 'consumer: handler failed, will redeliver');
          msg.nak(delay);
        }
      }
    }
  })();

  return {
    done,
    async stop() {
      stopped = true;
      await messages.close();
      await done.catch(() => {});
    },
  };
}
