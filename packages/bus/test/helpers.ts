import { computeProgress, type EventEnvelope } from '@glavito/contracts';
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { pino, type Logger } from 'pino';
import { buildEnvelope, type EnvelopeInput } from '../src/index.js';

export const silentLogger: Logger = pino({ level: 'silent' });

type PausedInput = EnvelopeInput<'session.paused'>;

/** A valid `session.paused` envelope; override any envelope field. */
export function makeEnvelope(overrides: Partial<Omit<PausedInput, 'type' | 'data'>> = {}): EventEnvelope<'session.paused'> {
  const state = { completedSteps: ['welcome'], skippedSteps: [], currentStep: 'organization_setup' };
  return buildEnvelope({
    type: 'session.paused',
    tenantId: 'tenant_1',
    sessionId: 'session_1',
    userId: 'user_1',
    sessionSeq: 1,
    correlationId: 'corr-1',
    ...overrides,
    data: { sessionType: 'tenant_setup', ...state, status: 'paused', progress: computeProgress('tenant_setup', state) },
  });
}

export async function streamCount(jsm: JetStreamManager, stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.messages;
}

/** Every message of a stream (optionally one subject filter), in stream order, via an ordered consumer. */
export async function readStream(js: JetStreamClient, jsm: JetStreamManager, stream: string, filter = '>'): Promise<JsMsg[]> {
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  const expected = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  if (expected === 0) return [];
  const consumer = await js.consumers.get(stream, { filter_subjects: filter });
  const out: JsMsg[] = [];
  const iter = await consumer.fetch({ max_messages: expected, expires: 5000 });
  for await (const m of iter) out.push(m);
  await consumer.delete().catch(() => {});
  return out;
}

export const decode = (m: JsMsg): unknown => JSON.parse(new TextDecoder().decode(m.data));
