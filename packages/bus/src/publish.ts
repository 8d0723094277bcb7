import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { eventSubject, parseEvent, type EventEnvelope } from '@glavito/contracts';

/** Publishes one envelope after validating it; the event id is the broker dedupe key. */
export async function publishEvent(js: JetStreamClient, subjectPrefix: string, env: EventEnvelope): Promise<PubAck> {
  const valid = parseEvent(env);
  return js.publish(eventSubject(subjectPrefix, valid), JSON.stringify(valid), { msgID: valid.id });
}
