import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { eventSubject, validateForPublish, type EventEnvelope } from '@glavito/contracts';

/** Publishes one envelope after validating it; the event id is the broker dedupe key. */
export async function publishEvent(js: JetStreamClient, subjectPrefix: string, env: EventEnvelope): Promise<PubAck> {
  // Checked against its own version's schema and written as is (never upcast on the way out).
  const valid = validateForPublish(env);
  return js.publish(eventSubject(subjectPrefix, valid), JSON.stringify(valid), { msgID: valid.id });
}
