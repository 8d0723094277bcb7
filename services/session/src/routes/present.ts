import type { Session } from '@glavito/contracts';
import { maskStepData } from '../domain/secret-box.js';
import { progressOf, type SessionRecord } from '../domain/session-rules.js';

/** The API view of a session: credentials masked, internal counters left out. */
export function presentSession(s: SessionRecord): Session {
  const { eventSeq: _eventSeq, ...rest } = s;
  return { ...rest, stepData: maskStepData(s.stepData), metadata: maskStepData(s.metadata) };
}

export function presentWithProgress(s: SessionRecord) {
  return { session: presentSession(s), progress: progressOf(s) };
}
