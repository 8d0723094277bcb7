import { buildEnvelope } from '@glavito/bus';
import { toOutboxRow } from '@glavito/outbox';
import { parseEvent, SessionWithProgressSchema, type EventData, type EventEnvelope } from '@glavito/contracts';
import { readStream, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applySignal, signalOf } from '../src/domain/external-signals.js';
import { startSession } from '../src/domain/session-rules.js';
import { bearer, startHarness, TENANT_STEP_DATA, type SessionHarness } from './helpers.js';

const ADMIN = { userId: 'ada', tenantId: 'tenant-a', roles: ['admin'] };
const ADMIN_B = { userId: 'bob', tenantId: 'tenant-b', roles: ['admin'] };
const ACCT = 'acct_1AlphaAlpha';

const accountState = (over: Partial<EventData<'payment.account_updated'>> = {}): EventData<'payment.account_updated'> => ({
  accountId: ACCT,
  chargesEnabled: true,
  payoutsEnabled: true,
  detailsSubmitted: true,
  currentlyDue: [],
  pastDue: [],
  disabledReason: null,
  canCharge: true,
  stripeEventId: 'evt_1',
  stripeCreated: 1_800_000_000,
  ...over,
});

const paymentEvent = (tenantId: string, seq: number, data: EventData<'payment.account_updated'>) =>
  buildEnvelope({ type: 'payment.account_updated', tenantId, sessionId: data.accountId, userId: 'ada', sessionSeq: seq, correlationId: `stripe-${seq}`, data });

describe('applySignal (pure)', () => {
  const fresh = () =>
    startSession({ id: 's1', tenantId: 'tenant-a', userId: 'ada', type: 'tenant_setup', metadata: {}, now: '2026-01-01T00:00:00.000Z' }).session;

  it('completes the named step once, with the trigger, the account id in its data and nothing else', () => {
    const sig = signalOf(paymentEvent('tenant-a', 1, accountState()) as EventEnvelope)!;
    const t = applySignal(fresh(), sig, '2026-01-01T00:05:00.000Z');
    expect(t.session.completedSteps).toContain('payment_setup');
    expect(t.stepWrite).toEqual({ stepId: 'payment_setup', value: { stripeAccountId: ACCT } });
    expect(t.events).toHaveLength(1);
    expect(t.events[0]).toMatchObject({
      type: 'step.completed',
      data: { stepId: 'payment_setup', trigger: { kind: 'external', source: 'stripe', ref: ACCT } },
    });
    // The same event again, or an older one, changes nothing.
    const again = applySignal(t.session, sig, '2026-01-01T00:06:00.000Z');
    expect(again.events).toEqual([]);
    expect(again.signalsChanged).toBeUndefined();
    const older = signalOf(paymentEvent('tenant-a', 1, accountState({ canCharge: false, chargesEnabled: false, stripeEventId: 'evt_0' })) as EventEnvelope)!;
    expect(applySignal(t.session, older, '2026-01-01T00:06:00.000Z').events).toEqual([]);
  });

  it('a later "more details needed" keeps the step completed and annotates it; before completion it is only recorded', () => {
    const done = applySignal(fresh(), signalOf(paymentEvent('tenant-a', 1, accountState()) as EventEnvelope)!, '2026-01-01T00:05:00.000Z').session;
    const more = signalOf(
      paymentEvent(
        'tenant-a',
        2,
        accountState({ canCharge: false, chargesEnabled: false, currentlyDue: ['external_account'], stripeEventId: 'evt_2' }),
      ) as EventEnvelope,
    )!;
    const t = applySignal(done, more, '2026-01-01T00:07:00.000Z');
    expect(t.session.completedSteps).toContain('payment_setup');
    expect(t.events).toMatchObject([
      { type: 'step.annotated', data: { stepId: 'payment_setup', key: 'stripe', signal: { state: 'attention_needed' }, previous: { state: 'ready' } } },
    ]);
    const early = applySignal(fresh(), more, '2026-01-01T00:07:00.000Z');
    expect(early.events).toEqual([]);
    expect(early.signalsChanged).toBe(true);
    expect(early.session.signals.payment_setup?.stripe?.state).toBe('attention_needed');
  });

  it('a step not in the flow is left alone', () => {
    const agent = startSession({ id: 's2', tenantId: 'tenant-a', userId: 'al', type: 'agent_welcome', metadata: {}, now: '2026-01-01T00:00:00.000Z' }).session;
    expect(applySignal(agent, signalOf(paymentEvent('tenant-a', 1, accountState()) as EventEnvelope)!, '2026-01-01T00:05:00.000Z')).toEqual({
      session: agent,
      events: [],
    });
  });
});

describe('signals from the bus', () => {
  let h: SessionHarness;
  let sessionId: string;
  let sessionB: string;

  /** Publishes like the payment service's outbox relay would (the other context, faked at its NATS boundary). */
  async function publish(env: EventEnvelope) {
    const row = toOutboxRow(h.config.EVENT_SUBJECT_PREFIX, env);
    await h.app.bus.publish(row.subject, JSON.stringify(env), env.id);
  }
  const session = async (who = ADMIN, id = sessionId) =>
    SessionWithProgressSchema.parse((await h.app.inject({ method: 'GET', url: `/onboarding/session/${id}`, headers: bearer(who) })).json()).session;
  const ownEvents = async (id: string) => (await readStream(h.nats)).map((e) => parseEvent(e.event)).filter((e) => e.sessionId === id);

  beforeAll(async () => {
    h = await startHarness();
    sessionId = (await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: bearer(ADMIN), payload: { type: 'tenant_setup' } })).json().session.id;
    await h.app.inject({ method: 'PUT', url: `/onboarding/step/${sessionId}/organization_setup`, headers: bearer(ADMIN), payload: TENANT_STEP_DATA[0]![1] });
    sessionB = (await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: bearer(ADMIN_B), payload: { type: 'tenant_setup' } })).json().session
      .id;
  });
  afterAll(async () => {
    await h?.close();
  });

  it("payment.account_updated that can charge completes the tenant's payment_setup by itself, once, and only in that tenant", async () => {
    const ev = paymentEvent('tenant-a', 1, accountState());
    await publish(ev);
    await publish(ev); // the broker drops it (same msgID)
    await publish({ ...ev, id: '0192f0c0-0000-7000-8000-000000000001' }); // a redelivery under another id: applySignal ignores it
    const s = await waitFor(async () => {
      const x = await session();
      return x.completedSteps.includes('payment_setup') ? x : null;
    });
    expect(s.stepData.payment_setup).toEqual({ stripeAccountId: ACCT });
    expect(s.signals?.payment_setup?.stripe).toMatchObject({ state: 'ready', source: 'stripe', ref: ACCT });
    await new Promise((r) => setTimeout(r, 300));
    const completions = (await ownEvents(sessionId)).filter((e) => e.type === 'step.completed' && (e.data as { stepId: string }).stepId === 'payment_setup');
    expect(completions).toHaveLength(1);
    expect(completions[0]!.data).toMatchObject({ trigger: { source: 'stripe', signal: 'payment.account_updated', ref: ACCT, eventId: ev.id } });
    expect((await session(ADMIN_B, sessionB)).completedSteps).not.toContain('payment_setup');
  });

  it('Stripe asking for more later keeps it completed, annotates it (step.annotated) and shows in status', async () => {
    await publish(
      paymentEvent(
        'tenant-a',
        2,
        accountState({
          canCharge: false,
          chargesEnabled: false,
          currentlyDue: ['external_account'],
          disabledReason: 'requirements.past_due',
          stripeEventId: 'evt_2',
        }),
      ),
    );
    const s = await waitFor(async () => {
      const x = await session();
      return x.signals?.payment_setup?.stripe?.state === 'attention_needed' ? x : null;
    });
    expect(s.completedSteps).toContain('payment_setup');
    const status = (await h.app.inject({ method: 'GET', url: '/onboarding/status', headers: bearer(ADMIN) })).json();
    expect(status.session.signals.payment_setup.stripe).toMatchObject({ state: 'attention_needed', details: { currentlyDue: ['external_account'] } });
    await waitFor(async () => (await ownEvents(sessionId)).find((e) => e.type === 'step.annotated'));
    // An older event arriving late changes nothing.
    await publish(paymentEvent('tenant-a', 1, accountState({ stripeEventId: 'evt_late' })));
    await new Promise((r) => setTimeout(r, 300));
    expect((await session()).signals?.payment_setup?.stripe?.state).toBe('attention_needed');
  });

  it('a successful connection test marks its channel verified in channel_configuration; a failed one does not', async () => {
    const tested = (status: string, channel: string, seq: number) =>
      ({
        ...buildEnvelope({
          type: 'connection.tested',
          tenantId: 'tenant-a',
          sessionId,
          userId: 'ada',
          sessionSeq: seq,
          correlationId: 'ct',
          data: {
            result: { id: `r${seq}`, channel, status, message: 'ok', details: {}, checks: [], responseTime: 5, timestamp: '2026-01-01T00:00:00.000Z' },
          } as never,
        }),
      }) as EventEnvelope;
    await publish(tested('error', 'slack', 1));
    await publish(tested('success', 'email', 2));
    const s = await waitFor(async () => {
      const x = await session();
      return x.signals?.channel_configuration?.['channel:email'] ? x : null;
    });
    expect(s.signals?.channel_configuration?.['channel:email']).toMatchObject({ state: 'verified', source: 'connection-test', ref: 'email' });
    expect(s.signals?.channel_configuration?.['channel:slack']).toBeUndefined();
    expect(s.completedSteps).not.toContain('channel_configuration');
    // Another tenant's event naming this session reaches nothing.
    await publish({ ...tested('success', 'slack', 3), tenantId: 'tenant-b' } as EventEnvelope);
    await new Promise((r) => setTimeout(r, 300));
    expect((await session()).signals?.channel_configuration?.['channel:slack']).toBeUndefined();
  });
});
