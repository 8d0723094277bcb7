import { toPublishedData, type EventData, type EventEnvelope, type EventType } from '@glavito/contracts';
import { v7 as uuidv7 } from 'uuid';

export function newEventId(): string {
  return uuidv7();
}

export interface EnvelopeInput<T extends EventType> {
  type: T;
  tenantId: string;
  sessionId: string;
  userId: string;
  sessionSeq: number;
  correlationId: string;
  data: EventData<T>;
  occurredAt?: Date;
}

/**
 * Builds a versioned envelope at the version producers write (PUBLISHED_EVENT_VERSIONS: the latest, or an
 * older one while a previous release's readers need it); the data is checked against that version's contract
 * before it is stored.
 */
export function buildEnvelope<T extends EventType>(input: EnvelopeInput<T>): EventEnvelope<T> {
  const { version, data } = toPublishedData(input.type, input.data);
  return {
    id: newEventId(),
    type: input.type,
    version,
    occurredAt: (input.occurredAt ?? new Date()).toISOString(),
    tenantId: input.tenantId,
    sessionId: input.sessionId,
    userId: input.userId,
    sessionSeq: input.sessionSeq,
    correlationId: input.correlationId,
    // The published version's data: for a type written below its latest version, that version's shape.
    data: data as EventData<T>,
  };
}
