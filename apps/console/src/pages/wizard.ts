import type { PushEvent, RouteResponse, StepData, StepId } from '@glavito/client';
import type { Ctx } from '../context.js';
import { h, humanize, keepingFocus, replace } from '../dom.js';
import { describeError, isStatus } from '../errors.js';
import { createSchemaForm, type FieldError, type JsonSchema, type SchemaForm } from '../schema-form.js';

type Flow = RouteResponse<'flow'>;
type FlowStep = Flow['steps'][number];
type Session = RouteResponse<'getSession'>['session'];
type Milestone = RouteResponse<'progress'>['milestones'][number];
type Summary = RouteResponse<'complete'>['summary'];

/** The bar shows only the progress service's figures, newest `seq` wins: it never moves backwards. */
interface ProgressView {
  seq: number;
  percentage: number;
  completedSteps: number;
  skippedSteps: number;
  totalSteps: number;
  estimatedTimeRemaining: number;
  nextRecommendedAction: string;
}

type StepState = 'done' | 'skipped' | 'locked' | 'available';

const LOG_LIMIT = 50;

export function renderWizard(ctx: Ctx, container: HTMLElement): () => void {
  const { client } = ctx;
  let flow: Flow | null = null;
  let session: Session | null = null;
  let progress: ProgressView | null = null;
  let milestones: Milestone[] = [];
  let selected: string | null = null;
  let form: { stepId: string; form: SchemaForm } | null = null;
  let summary: Summary | null = null;
  let joined: string | null = null;
  let left = false;

  const errorBox = h('div', { class: 'banner error', testid: 'wizard-error', role: 'alert', hidden: true });
  const noticeBox = h('div', { class: 'banner', testid: 'wizard-notice', role: 'status', hidden: true });
  const progressEl = h('section', { class: 'card progress', 'aria-label': 'Progress' });
  const stepsEl = h('nav', { class: 'steps', 'aria-label': 'Steps' });
  const panelEl = h('section', { class: 'card step-panel', testid: 'step-panel' });
  const actionsEl = h('div', { class: 'session-actions' });
  const logEl = h('ol', { class: 'event-log', testid: 'event-log', 'aria-live': 'polite' });
  replace(
    container,
    h('h1', {}, 'Onboarding'),
    errorBox,
    noticeBox,
    progressEl,
    actionsEl,
    h('div', { class: 'wizard' }, stepsEl, panelEl),
    h('section', { class: 'card' }, h('h2', {}, 'Live events'), logEl),
  );

  function showError(message: string | null): void {
    errorBox.hidden = message === null;
    errorBox.textContent = message ?? '';
  }
  function notice(message: string | null): void {
    noticeBox.hidden = message === null;
    noticeBox.textContent = message ?? '';
  }

  // ---- progress ----------------------------------------------------------------------------------------
  function applyProgress(
    seq: number,
    p: {
      progressPercentage: number;
      completedSteps: number;
      skippedSteps: number;
      totalSteps: number;
      estimatedTimeRemaining: number;
      nextRecommendedAction: string;
    },
  ): void {
    if (progress && seq < progress.seq) return;
    progress = {
      seq,
      percentage: p.progressPercentage,
      completedSteps: p.completedSteps,
      skippedSteps: p.skippedSteps,
      totalSteps: p.totalSteps,
      estimatedTimeRemaining: p.estimatedTimeRemaining,
      nextRecommendedAction: p.nextRecommendedAction,
    };
    renderProgress();
  }

  function renderProgress(): void {
    if (!session) {
      progressEl.hidden = true;
      return;
    }
    progressEl.hidden = false;
    const pct = progress?.percentage ?? 0;
    const fill = h('div', { class: 'bar-fill' });
    fill.style.width = `${pct}%`;
    const bar = h(
      'div',
      {
        class: 'bar',
        role: 'progressbar',
        testid: 'progress-bar',
        'aria-label': 'Onboarding progress',
        'aria-valuemin': 0,
        'aria-valuemax': 100,
        'aria-valuenow': pct,
      },
      fill,
    );
    replace(
      progressEl,
      h(
        'div',
        { class: 'progress-head' },
        h('h2', {}, session.type === 'tenant_setup' ? 'Tenant setup' : 'Agent welcome'),
        h('span', { class: `badge status-${session.status}`, testid: 'session-status' }, session.status),
      ),
      bar,
      h(
        'p',
        { class: 'progress-line' },
        h('strong', { testid: 'progress-percent' }, `${pct} %`),
        progress
          ? ` · ${progress.completedSteps} done, ${progress.skippedSteps} skipped of ${progress.totalSteps} · ${progress.estimatedTimeRemaining} min left · `
          : ' · waiting for the progress service… ',
        progress ? h('span', { testid: 'next-action' }, progress.nextRecommendedAction) : null,
      ),
      h(
        'ul',
        { class: 'milestones', testid: 'milestones', 'aria-label': 'Milestones' },
        ...milestones.map((m) =>
          h(
            'li',
            { class: m.reachedAt ? 'reached' : '', testid: `milestone-${m.threshold}`, 'data-reached': m.reachedAt ? 'true' : 'false' },
            h('span', { class: 'dot', 'aria-hidden': 'true' }),
            `${m.threshold} % · ${m.title}`,
            m.reachedAt ? h('span', { class: 'sr-only' }, ' (reached)') : null,
          ),
        ),
      ),
    );
  }

  // ---- live events -------------------------------------------------------------------------------------
  function describePush(e: PushEvent): { detail: string; threshold?: number; stepId?: string } {
    switch (e.event) {
      case 'milestone_reached':
        return { detail: `${e.data.threshold} % · ${e.data.title}`, threshold: e.data.threshold };
      case 'step_completed':
        return { detail: `${e.data.stepId}${e.data.skipped ? ' (skipped)' : ''}`, stepId: e.data.stepId };
      case 'validation_error':
        return { detail: `${e.data.stepId}: ${e.data.errors.length} error(s)`, stepId: e.data.stepId };
      case 'progress_update':
        return { detail: `${e.data.progress.progressPercentage} %` };
      case 'connection_test_result':
        return { detail: `${e.data.result.channel} ${e.data.result.status}` };
      case 'payment_attention_needed':
        return {
          detail: `Stripe needs: ${[...e.data.currentlyDue, ...e.data.pastDue].join(', ') || e.data.disabledReason || 'more details'}`,
          stepId: e.data.stepId,
        };
      default:
        return { detail: '' };
    }
  }

  function log(e: PushEvent): void {
    const { detail, threshold, stepId } = describePush(e);
    const item = h(
      'li',
      { testid: 'event', 'data-event': e.event, 'data-threshold': threshold, 'data-step': stepId },
      h('code', {}, e.event),
      detail ? ` ${detail}` : '',
      h('time', {}, ` ${new Date(e.data.timestamp).toLocaleTimeString()}`),
    );
    logEl.prepend(item);
    while (logEl.children.length > LOG_LIMIT) logEl.lastElementChild?.remove();
  }

  let refetchTimer: ReturnType<typeof setTimeout> | undefined;
  function scheduleRefresh(): void {
    // Several pushes of one save arrive together: one re-read of the session covers them all.
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(() => void refresh(), 50);
  }

  function onPush(e: PushEvent): void {
    if (!session || e.data.sessionId !== session.id) return;
    log(e);
    switch (e.event) {
      case 'progress_update':
        applyProgress(e.data.seq, e.data.progress);
        break;
      case 'milestone_reached': {
        const { threshold } = e.data;
        milestones = milestones.some((m) => m.threshold === threshold)
          ? milestones.map((m) => (m.threshold === threshold && !m.reachedAt ? { ...m, reachedAt: e.data.timestamp } : m))
          : [...milestones, { threshold, title: e.data.title, reachedAt: e.data.timestamp }].sort((a, b) => a.threshold - b.threshold);
        applyProgress(e.data.seq, e.data.progress);
        renderProgress();
        break;
      }
      case 'onboarding_completed':
        summary = e.data.summary;
        applyProgress(e.data.seq, e.data.progress);
        scheduleRefresh();
        break;
      case 'step_completed':
      case 'session_paused':
      case 'session_resumed':
      // What outside systems say lands in the session's signals (a verified channel, Stripe asking for more).
      case 'connection_test_result':
      case 'payment_attention_needed':
        scheduleRefresh();
        break;
      default:
        break;
    }
  }

  // ---- loading -----------------------------------------------------------------------------------------
  async function loadFlow(type: Session['type'] | undefined): Promise<Flow | null> {
    try {
      return type ? await client.flowByType({ type }) : await client.flow();
    } catch (err) {
      showError(
        isStatus(err, 404, 501) ? `This gateway has no flow API yet (GET /onboarding/flow answered ${err.status}): the wizard needs it.` : describeError(err),
      );
      return null;
    }
  }

  async function loadProgress(sessionId: string): Promise<void> {
    try {
      const p = await client.progress({ sessionId });
      milestones = p.milestones;
      applyProgress(p.seq ?? 0, p);
    } catch (err) {
      // The progress projection follows the session's events: right after a start it may not exist yet.
      if (!isStatus(err, 404)) showError(describeError(err));
    }
  }

  async function refresh(): Promise<void> {
    if (!session || left) return;
    try {
      const res = await client.getSession({ sessionId: session.id });
      if (left) return;
      setSession(res.session);
      await loadProgress(res.session.id);
    } catch (err) {
      showError(describeError(err));
    }
  }

  function setSession(next: Session, opts: { resetForm?: boolean } = {}): void {
    const stepDataChanged = session !== null && JSON.stringify(session.stepData[selected ?? '']) !== JSON.stringify(next.stepData[selected ?? '']);
    session = next;
    if (opts.resetForm || stepDataChanged) form = null;
    renderAll();
  }

  async function join(sessionId: string): Promise<void> {
    if (joined === sessionId) return;
    if (joined) await ctx.live.leave(joined).catch(() => undefined);
    joined = sessionId;
    try {
      await ctx.live.join(sessionId);
    } catch (err) {
      notice(`Live updates unavailable: ${describeError(err)}`);
    }
  }

  async function load(): Promise<void> {
    try {
      const status = await client.status();
      if (left) return;
      session = status.session;
      flow = await loadFlow(session?.type);
      if (left) return;
      if (session) {
        await loadProgress(session.id);
        void join(session.id);
      }
      renderAll();
    } catch (err) {
      showError(describeError(err));
    }
  }

  // ---- steps -------------------------------------------------------------------------------------------
  function stateOf(step: FlowStep): StepState {
    if (!session) return 'locked';
    if (session.completedSteps.includes(step.id)) return 'done';
    if (session.skippedSteps.includes(step.id)) return 'skipped';
    const done = new Set([...session.completedSteps, ...session.skippedSteps]);
    return step.dependencies.every((d) => done.has(d)) ? 'available' : 'locked';
  }

  function titleOf(stepId: string): string {
    return flow?.steps.find((s) => s.id === stepId)?.title ?? humanize(stepId);
  }

  function defaultSelection(): string | null {
    if (!flow || !session) return null;
    if (selected && flow.steps.some((s) => s.id === selected)) return selected;
    const current = flow.steps.find((s) => s.id === session!.currentStep && stateOf(s) === 'available');
    return (current ?? flow.steps.find((s) => stateOf(s) === 'available') ?? flow.steps[0])?.id ?? null;
  }

  function select(stepId: string): void {
    notice(null);
    selected = stepId;
    form = null;
    renderAll();
    panelEl.querySelector<HTMLElement>('h2')?.focus();
  }

  function renderSteps(): void {
    if (!flow || !session) {
      stepsEl.replaceChildren();
      return;
    }
    replace(
      stepsEl,
      h(
        'ol',
        {},
        ...flow.steps.map((step) => {
          const state = stateOf(step);
          const missing = step.dependencies.filter((d) => !session!.completedSteps.includes(d) && !session!.skippedSteps.includes(d));
          return h(
            'li',
            {},
            h(
              'button',
              {
                type: 'button',
                class: `step state-${state}${step.id === selected ? ' selected' : ''}`,
                testid: `step-${step.id}`,
                'data-state': state,
                'aria-current': step.id === selected ? 'step' : undefined,
                title: state === 'locked' ? `Needs: ${missing.map(titleOf).join(', ')}` : undefined,
                onclick: () => select(step.id),
              },
              h('span', { class: 'step-mark', 'aria-hidden': 'true' }, state === 'done' ? '✓' : state === 'skipped' ? '↷' : state === 'locked' ? '–' : '○'),
              h('span', { class: 'step-title' }, step.title),
              h('span', { class: 'step-meta' }, `${step.isRequired ? 'required' : 'optional'} · ${step.estimatedTime} min`),
              h('span', { class: 'sr-only' }, ` (${state})`),
            ),
          );
        }),
      ),
    );
  }

  function renderPanel(): void {
    if (!flow || !session || !selected) {
      panelEl.hidden = true;
      return;
    }
    panelEl.hidden = false;
    const step = flow.steps.find((s) => s.id === selected);
    if (!step) return;
    const state = stateOf(step);
    const message = h('p', { class: 'step-message', testid: 'step-message', role: 'status', 'aria-live': 'polite' });
    const heading = h('h2', { tabindex: -1, testid: 'step-title' }, step.title);
    const meta = h(
      'p',
      { class: 'muted' },
      `${step.isRequired ? 'Required' : 'Optional'} · ${step.category} · about ${step.estimatedTime} min · `,
      h('span', { testid: 'step-state' }, state),
    );
    if (state === 'locked') {
      const missing = step.dependencies.filter((d) => !session!.completedSteps.includes(d) && !session!.skippedSteps.includes(d));
      replace(
        panelEl,
        heading,
        meta,
        h('p', {}, step.description),
        h('p', { class: 'banner', testid: 'step-locked' }, `Locked: finish ${missing.map(titleOf).join(', ')} first.`),
      );
      return;
    }
    if (!form || form.stepId !== step.id) {
      form = { stepId: step.id, form: createSchemaForm(step.dataSchema as JsonSchema, session.stepData[step.id], `step-${step.id}`) };
    }
    const current = form.form;
    const closed = session.status === 'completed';
    const save = h('button', { type: 'submit', testid: 'save-step', disabled: closed }, state === 'done' ? 'Save again' : 'Save and continue');
    const skip =
      step.skippable && state === 'available' && !closed ? h('button', { type: 'button', class: 'secondary', testid: 'skip-step' }, 'Skip this step') : null;
    const formEl = h('form', { novalidate: true, testid: `step-form-${step.id}` }, current.element, h('div', { class: 'buttons' }, save, skip), message);
    formEl.addEventListener('submit', (e) => {
      e.preventDefault();
      void saveStep(step, current, save, message);
    });
    skip?.addEventListener('click', () => void skipStep(step, skip, message));
    replace(panelEl, heading, meta, h('p', {}, step.description), signalsOf(step.id), formEl);
  }

  /** What outside systems said about this step: channels a connection test verified, the Stripe account's state. */
  function signalsOf(stepId: string): HTMLElement | null {
    const signals = Object.entries(session?.signals?.[stepId] ?? {});
    if (signals.length === 0) return null;
    const text = (key: string, s: (typeof signals)[number][1]): string => {
      if (key.startsWith('channel:')) return `${s.ref}: verified by a connection test`;
      const d = (s.details ?? {}) as { currentlyDue?: string[]; pastDue?: string[] };
      const due = [...(d.currentlyDue ?? []), ...(d.pastDue ?? [])];
      return s.state === 'ready' ? `Stripe account ${s.ref}: can take payments` : `Stripe account ${s.ref}: Stripe needs ${due.join(', ') || 'more details'}`;
    };
    return h(
      'ul',
      { class: 'signals', testid: `signals-${stepId}`, 'aria-label': 'Checked outside the form' },
      ...signals.map(([key, s]) =>
        h(
          'li',
          { class: `signal signal-${s.state}`, testid: `signal-${key}`, 'data-state': s.state },
          h('span', { 'aria-hidden': 'true' }, s.state === 'attention_needed' ? '! ' : '✓ '),
          text(key, s),
          h('time', {}, ` ${new Date(s.at).toLocaleString()}`),
        ),
      ),
    );
  }

  async function saveStep(step: FlowStep, f: SchemaForm, button: HTMLButtonElement, message: HTMLElement): Promise<void> {
    if (!session) return;
    f.clearErrors();
    button.disabled = true;
    message.textContent = 'Saving…';
    try {
      // The flow is loaded at run time, so its step ids and data are checked by the server (422), not by tsc.
      const res = await client.saveStep({ sessionId: session.id, stepId: step.id as StepId }, f.value() as StepData<StepId>);
      showError(null);
      selected = res.nextStep && flow?.steps.some((s) => s.id === res.nextStep) ? res.nextStep : step.id;
      setSession(res.session, { resetForm: true });
      notice(`Saved “${step.title}”.${res.warnings.length ? ` ${res.warnings.join(' ')}` : ''}`);
    } catch (err) {
      button.disabled = false;
      if (isStatus(err, 422, 400) && err.details?.length) {
        const unmatched = f.showErrors(err.details as FieldError[]);
        message.textContent = unmatched.length === err.details.length ? describeError(err) : 'Please fix the highlighted fields.';
      } else {
        message.textContent = describeError(err);
      }
    }
  }

  async function skipStep(step: FlowStep, button: HTMLButtonElement, message: HTMLElement): Promise<void> {
    if (!session) return;
    button.disabled = true;
    try {
      const res = await client.skipStep({ sessionId: session.id, stepId: step.id as StepId }, { reason: 'skipped in the console' });
      selected = res.nextStep ?? step.id;
      setSession(res.session, { resetForm: true });
      notice(`Skipped “${step.title}”.`);
    } catch (err) {
      button.disabled = false;
      message.textContent = describeError(err);
    }
  }

  // ---- session actions ---------------------------------------------------------------------------------
  async function act(label: string, fn: () => Promise<void>): Promise<void> {
    showError(null);
    try {
      await fn();
    } catch (err) {
      showError(`${label}: ${describeError(err)}`);
    }
  }

  async function start(): Promise<void> {
    await act('Start', async () => {
      const res = await client.start();
      summary = null;
      progress = null;
      selected = null;
      form = null;
      session = res.session;
      flow = await loadFlow(res.session.type);
      await loadProgress(res.session.id);
      await join(res.session.id);
      renderAll();
    });
  }

  function renderActions(): void {
    if (!session) {
      const isAdmin = ctx.isAdmin;
      replace(
        actionsEl,
        h(
          'div',
          { class: 'card', testid: 'no-session' },
          h(
            'p',
            {},
            isAdmin
              ? 'No onboarding yet for your account. Start the tenant setup.'
              : 'Start your agent welcome. Your tenant’s setup must be completed by an admin first.',
          ),
          h('button', { type: 'button', testid: 'start-session', onclick: () => void start() }, isAdmin ? 'Start tenant setup' : 'Start agent welcome'),
        ),
      );
      return;
    }
    const s = session;
    const missingRequired = flow ? flow.steps.filter((st) => st.isRequired && !s.completedSteps.includes(st.id)) : [];
    const buttons: HTMLElement[] = [];
    if (s.status === 'active' || s.status === 'abandoned') {
      buttons.push(
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            testid: 'pause-session',
            onclick: () => void act('Pause', async () => setSession((await client.pause({ sessionId: s.id })).session)),
          },
          'Pause',
        ),
      );
    }
    if (s.status === 'paused') {
      buttons.push(
        h(
          'button',
          {
            type: 'button',
            testid: 'resume-session',
            onclick: () => void act('Resume', async () => setSession((await client.resume({ sessionId: s.id })).session)),
          },
          'Resume',
        ),
      );
    }
    if (s.status !== 'completed') {
      buttons.push(
        h(
          'button',
          {
            type: 'button',
            testid: 'complete-session',
            title: missingRequired.length ? `Required steps left: ${missingRequired.map((m) => m.title).join(', ')}` : undefined,
            onclick: () => void act('Complete', async () => complete(false)),
          },
          'Complete onboarding',
        ),
      );
      if (ctx.isAdmin && missingRequired.length > 0) {
        buttons.push(
          h(
            'button',
            { type: 'button', class: 'danger', testid: 'force-complete', onclick: () => void act('Force complete', async () => complete(true)) },
            'Force complete',
          ),
        );
      }
    } else {
      buttons.push(h('button', { type: 'button', class: 'secondary', testid: 'start-session', onclick: () => void start() }, 'Start a new session'));
    }
    replace(
      actionsEl,
      h('div', { class: 'buttons' }, ...buttons),
      s.status === 'completed'
        ? h(
            'div',
            { class: 'banner success', testid: 'completion-summary' },
            h('strong', {}, 'Onboarding completed. '),
            summary
              ? `${summary.stepsCompleted} steps in ${summary.totalTime} min${summary.featuresEnabled.length ? `; enabled: ${summary.featuresEnabled.join(', ')}` : ''}.`
              : s.completedAt
                ? `Completed at ${new Date(s.completedAt).toLocaleString()}.`
                : '',
          )
        : null,
    );
  }

  async function complete(force: boolean): Promise<void> {
    if (!session) return;
    const res = await client.complete({ sessionId: session.id }, force ? { force: 'true' } : undefined);
    summary = res.summary;
    const fresh = await client.getSession({ sessionId: session.id });
    notice(null);
    setSession(fresh.session, { resetForm: true });
  }

  function renderAll(): void {
    if (left) return;
    selected = defaultSelection();
    keepingFocus(() => {
      renderProgress();
      renderActions();
      renderSteps();
      renderPanel();
    });
  }

  const offPush = ctx.onPush(onPush);
  const offResync = ctx.onResync((sessionId) => {
    if (session?.id === sessionId) void refresh();
  });
  renderAll();
  void load();

  return () => {
    left = true;
    clearTimeout(refetchTimer);
    offPush();
    offResync();
    if (joined) void ctx.live.leave(joined).catch(() => undefined);
  };
}
