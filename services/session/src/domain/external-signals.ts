import { findStep, type EventData, type EventEnvelope, type ExternalTrigger, type StepSignal } from '@glavito/contracts';
import { settle, snapshot, type PendingEvent, type SessionRecord, type Transition } from './session-rules.js';

/**
 * Steps completed or annotated by what happens outside (ARCHITECTURE §8 "steps can complete from outside").
 * A rule turns another context's event into a signal about one named step; `applySignal` decides what the
 * signal does to a session. Adding an integration is one more rule here (and its event in the consumer's filter).
 */
export interface ExternalSignal {
  /** Which sessions: one named session, or the tenant's sessions of a flow. */
  target: { sessionId: string } | { flow: 'tenant_setup' };
  tenantId: string;
  stepId: string;
  /** One signal per key and step, e.g. `stripe`, `channel:email`; a newer one replaces it. */
  key: string;
  signal: StepSignal;
  /** The producer's order for this key (its per-stream sequence): an older one never replaces a newer one. */
  order: number;
  /** `ready` signals complete the step (data merged into the step's data; ids only, never secrets). */
  completes: boolean;
  stepData?: Record<string, unknown>;
  trigger: ExternalTrigger;
}

type Rule = (event: EventEnvelope) => ExternalSignal | null;

/** The rules, by event type. */
export const SIGNAL_RULES: Partial<Record<EventEnvelope['type'], Rule>> = {
  /** A Stripe account able to charge completes the tenant's payment_setup; "more details needed" annotates it. */
  'payment.account_updated': (event) => {
    const d = event.data as EventData<'payment.account_updated'>;
    const trigger: ExternalTrigger = { kind: 'external', source: 'stripe', signal: event.type, ref: d.accountId, eventId: event.id };
    return {
      target: { flow: 'tenant_setup' },
      tenantId: event.tenantId,
      stepId: 'payment_setup',
      key: 'stripe',
      order: event.sessionSeq,
      completes: d.canCharge,
      stepData: { stripeAccountId: d.accountId },
      trigger,
      signal: {
        state: d.canCharge ? 'ready' : 'attention_needed',
        source: 'stripe',
        ref: d.accountId,
        at: new Date(d.stripeCreated * 1000).toISOString(),
        eventId: event.id,
        details: {
          chargesEnabled: d.chargesEnabled,
          payoutsEnabled: d.payoutsEnabled,
          detailsSubmitted: d.detailsSubmitted,
          currentlyDue: d.currentlyDue,
          pastDue: d.pastDue,
          disabledReason: d.disabledReason,
        },
      },
    };
  },
  /** A successful connection test marks its channel verified in the session's channel_configuration. */
  'connection.tested': (event) => {
    const result = (event.data as { result: { status?: unknown; channel?: unknown; id?: unknown; timestamp?: unknown } }).result;
    if (result.status !== 'success' || typeof result.channel !== 'string') return null;
    const channel = result.channel;
    return {
      target: { sessionId: event.sessionId },
      tenantId: event.tenantId,
      stepId: 'channel_configuration',
      key: `channel:${channel}`,
      order: event.sessionSeq,
      completes: false,
      trigger: { kind: 'external', source: 'connection-test', signal: event.type, ref: channel, eventId: event.id },
      signal: {
        state: 'verified',
        source: 'connection-test',
        ref: channel,
        at: typeof result.timestamp === 'string' ? result.timestamp : event.occurredAt,
        eventId: event.id,
        details: { testId: typeof result.id === 'string' ? result.id : null },
      },
    };
  },
};

export function signalOf(event: EventEnvelope): ExternalSignal | null {
  return SIGNAL_RULES[event.type]?.(event) ?? null;
}

/** What `applySignal` keeps per key besides the signal: the producer's order. */
type StoredSignal = StepSignal & { order?: number };

/**
 * Pure: the signal applied to a session. Idempotent (the same event again changes nothing) and monotonic (an
 * older event of the same key and ref changes nothing). A `ready` signal completes the step once, with a
 * `step.completed` event carrying the trigger; a step completed stays completed whatever comes later. A change
 * of state on a completed step is a `step.annotated` event; before completion the signal is only recorded.
 */
export function applySignal(s: SessionRecord, sig: ExternalSignal, now: string): Transition {
  const none: Transition = { session: s, events: [] };
  if (!findStep(s.type, sig.stepId)) return none;
  const forStep = s.signals[sig.stepId] ?? {};
  const previous = (forStep[sig.key] as StoredSignal | undefined) ?? null;
  if (previous && (previous.eventId === sig.signal.eventId || (previous.ref === sig.signal.ref && (previous.order ?? 0) >= sig.order))) return none;

  const stored: StoredSignal = { ...sig.signal, order: sig.order };
  let next: SessionRecord = { ...s, signals: { ...s.signals, [sig.stepId]: { ...forStep, [sig.key]: stored } } };
  const events: PendingEvent[] = [];
  const completedAlready = s.completedSteps.includes(sig.stepId);

  if (sig.completes && !completedAlready && s.status !== 'completed') {
    next = settle({ ...next, completedSteps: [...next.completedSteps, sig.stepId], skippedSteps: next.skippedSteps.filter((id) => id !== sig.stepId) }, now);
    const data = { ...(s.stepData[sig.stepId] ?? {}), ...(sig.stepData ?? {}) };
    next = { ...next, stepData: { ...next.stepData, [sig.stepId]: data } };
    events.push({ type: 'step.completed', data: { ...snapshot(next), stepId: sig.stepId, nextStep: next.currentStep, trigger: sig.trigger } });
    return { session: next, stepWrite: { stepId: sig.stepId, value: data }, events, signalsChanged: true };
  }
  const stateChanged = previous?.state !== sig.signal.state;
  if ((completedAlready || sig.signal.state === 'verified') && stateChanged) {
    events.push({
      type: 'step.annotated',
      data: { sessionType: s.type, stepId: sig.stepId, key: sig.key, signal: sig.signal, previous: previous ? stripOrder(previous) : null },
    });
  }
  return { session: next, events, signalsChanged: true };
}

function stripOrder(s: StoredSignal): StepSignal {
  const { order: _order, ...rest } = s;
  return rest;
}
