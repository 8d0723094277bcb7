import { DEFAULT_LANGUAGE, localizeProgressAction, type Language, type Session } from '@glavito/contracts';
import { stepTitleIn } from '../domain/flows.js';
import { maskStepData } from '../domain/secret-box.js';
import { flowOfSession, progressOf, type SessionRecord } from '../domain/session-rules.js';

/** The API view of a session: credentials masked, internal counters left out. */
export function presentSession(s: SessionRecord): Session {
  const { eventSeq: _eventSeq, flow: _flow, ...rest } = s;
  return { ...rest, stepData: maskStepData(s.stepData), metadata: maskStepData(s.metadata) };
}

export function presentWithProgress(s: SessionRecord, lang: Language = DEFAULT_LANGUAGE) {
  const progress = localizeProgressAction(progressOf(s), lang, (id) => stepTitleIn(flowOfSession(s), id, lang));
  return { session: presentSession(s), progress };
}
