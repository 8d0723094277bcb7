import { DEFAULT_LANGUAGE, localizeProgressAction, localizeStepText, stepCatalog, type Language, type Session } from '@glavito/contracts';
import { maskStepData } from '../domain/secret-box.js';
import { progressOf, type SessionRecord } from '../domain/session-rules.js';

/** The API view of a session: credentials masked, internal counters left out. */
export function presentSession(s: SessionRecord): Session {
  const { eventSeq: _eventSeq, ...rest } = s;
  return { ...rest, stepData: maskStepData(s.stepData), metadata: maskStepData(s.metadata) };
}

export function presentWithProgress(s: SessionRecord, lang: Language = DEFAULT_LANGUAGE) {
  const progress = localizeProgressAction(progressOf(s), lang, (id) => {
    const step = stepCatalog(s.type).find((c) => c.id === id);
    return step && localizeStepText(s.type, step, lang).title;
  });
  return { session: presentSession(s), progress };
}
