import { EVENT_DATA_SCHEMAS, type EventData, type EventEnvelope, type EventType } from '@glavito/contracts';
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

/** Builds a versioned envelope; the data is checked against its contract before it is stored. */
export function buildEnvelope<T extends EventType>(input: EnvelopeInput<T>): EventEnvelope<T> {
  const data = EVENT_DATA_SCHEMAS[input.type].parse(input.data) as EventData<T>;
  return {
    id: newEventId(),
    type: input.type,
    version: 1,
    occurredAt: (input.occurredAt ?? new Date()).toISOString(),
    tenantId: input.tenantId,
    sessionId: input.sessionId,
    userId: input.userId,
    sessionSeq: input.sessionSeq,
    correlationId: input.correlationId,
    data,
  };
}
