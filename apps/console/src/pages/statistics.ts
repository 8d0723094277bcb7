import type { RouteBody, RouteResponse } from '@glavito/client';
import type { Ctx } from '../context.js';
import { formatMinutes, h, humanize, replace } from '../dom.js';
import { describeError } from '../errors.js';
import { renderTrends } from './trends.js';

type Statistics = RouteResponse<'statistics'>;
type StepStat = Statistics['stepStatistics'][number];
type BusinessHours = RouteResponse<'businessHoursGet'>;

const WEEKDAY_HOURS: RouteBody<'businessHoursPut'> = {
  timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC',
  schedule: Object.fromEntries(['monday', 'tuesday', 'wednesday', 'thursday', 'friday'].map((d) => [d, { enabled: true, start: '09:00', end: '17:00' }])),
};

const pct = (n: number) => `${Math.round(n * 10) / 10} %`;

/** The step funnel as CSS bars: each row's width is its reach against the widest step. */
function funnel(steps: readonly StepStat[], titles: ReadonlyMap<string, string>): HTMLElement {
  const max = Math.max(1, ...steps.map((s) => s.reachedCount));
  const segment = (cls: string, count: number, label: string) => {
    const el = h('span', { class: `seg ${cls}`, title: `${label}: ${count}` });
    el.style.width = `${(count / max) * 100}%`;
    return el;
  };
  return h(
    'figure',
    { class: 'funnel', testid: 'funnel' },
    h('figcaption', {}, 'Step funnel: of those who reached each step, how many completed it, skipped it or stopped there.'),
    h(
      'div',
      { class: 'legend', 'aria-hidden': 'true' },
      h('span', { class: 'key completed' }, 'completed'),
      h('span', { class: 'key skipped' }, 'skipped'),
      h('span', { class: 'key dropped' }, 'drop-off'),
      h('span', { class: 'key open' }, 'in progress'),
    ),
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Step'),
          h('th', { scope: 'col', class: 'chart-col' }, 'Reached'),
          h('th', { scope: 'col' }, 'Reached'),
          h('th', { scope: 'col' }, 'Completed'),
          h('th', { scope: 'col' }, 'Skipped'),
          h('th', { scope: 'col' }, 'Drop-off'),
          h('th', { scope: 'col' }, 'Median'),
        ),
      ),
      h(
        'tbody',
        {},
        ...steps.map((s) => {
          const open = Math.max(0, s.reachedCount - s.completedCount - s.skippedCount - s.dropOffCount);
          return h(
            'tr',
            {
              testid: `funnel-${s.stepId}`,
              'data-reached': s.reachedCount,
              'data-completed': s.completedCount,
              'data-skipped': s.skippedCount,
              'data-dropoff': s.dropOffCount,
            },
            h('th', { scope: 'row' }, titles.get(s.stepId) ?? humanize(s.stepId)),
            h(
              'td',
              { class: 'chart-col' },
              h(
                'div',
                {
                  class: 'track',
                  role: 'img',
                  'aria-label': `${s.reachedCount} reached, ${s.completedCount} completed, ${s.skippedCount} skipped, ${s.dropOffCount} dropped off`,
                },
                segment('completed', s.completedCount, 'completed'),
                segment('skipped', s.skippedCount, 'skipped'),
                segment('dropped', s.dropOffCount, 'drop-off'),
                segment('open', open, 'in progress'),
              ),
            ),
            h('td', { class: 'num', testid: `funnel-${s.stepId}-reached` }, s.reachedCount),
            h('td', { class: 'num', testid: `funnel-${s.stepId}-completed` }, s.completedCount),
            h('td', { class: 'num', testid: `funnel-${s.stepId}-skipped` }, s.skippedCount),
            h('td', { class: 'num', testid: `funnel-${s.stepId}-dropoff` }, s.dropOffCount),
            h('td', { class: 'num' }, formatMinutes(s.medianMinutes)),
          );
        }),
      ),
    ),
  );
}

export function renderStatistics(ctx: Ctx, container: HTMLElement): () => void {
  const { client } = ctx;
  let left = false;
  const typeSelect = h(
    'select',
    { id: 'stats-type', testid: 'stats-type' },
    h('option', { value: '' }, 'All flows'),
    h('option', { value: 'tenant_setup' }, 'Tenant setup'),
    h('option', { value: 'agent_welcome' }, 'Agent welcome'),
  );
  const refresh = h('button', { type: 'button', class: 'secondary', testid: 'stats-refresh' }, 'Refresh');
  const body = h('div', { testid: 'stats-body', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading…'));
  const bhStatus = h('p', { testid: 'bh-status' });
  const bhResult = h('p', { class: 'step-message', testid: 'bh-result', role: 'status' });
  // Step titles from both flows (statistics name steps by id); an id without a title is humanized.
  const titles = new Map<string, string>();
  const titlesLoaded = Promise.allSettled([client.flowByType({ type: 'tenant_setup' }), client.flowByType({ type: 'agent_welcome' })]).then((flows) => {
    for (const f of flows) if (f.status === 'fulfilled') for (const step of f.value.steps) if (!titles.has(step.id)) titles.set(step.id, step.title);
  });

  const trends = renderTrends(ctx);

  async function load(): Promise<void> {
    const type = typeSelect.value as '' | 'tenant_setup' | 'agent_welcome';
    void trends.load(type);
    try {
      const [stats] = await Promise.all([client.statistics(type ? { type } : {}), titlesLoaded]);
      if (!left) render(stats);
    } catch (err) {
      replace(body, h('p', { class: 'banner error', testid: 'stats-error', role: 'alert' }, describeError(err)));
    }
  }

  function card(label: string, value: string, testid: string, raw: number | null): HTMLElement {
    return h(
      'div',
      { class: 'stat' },
      h('span', { class: 'stat-label' }, label),
      h('strong', { class: 'stat-value', testid, 'data-value': raw === null ? 'null' : String(raw) }, value),
    );
  }

  function render(stats: Statistics): void {
    replace(
      body,
      h(
        'div',
        { class: 'stats' },
        card('Sessions', String(stats.totalSessions), 'stat-total', stats.totalSessions),
        card('Completion rate', pct(stats.completionRate), 'stat-completion-rate', stats.completionRate),
        card('Median time to complete', formatMinutes(stats.medianCompletionTime), 'stat-median-time', stats.medianCompletionTime),
        card('Average time to complete', formatMinutes(stats.averageCompletionTime), 'stat-average-time', stats.averageCompletionTime),
      ),
      h(
        'p',
        { class: 'muted', testid: 'stat-by-status' },
        'By status: ',
        Object.entries(stats.byStatus)
          .map(([k, v]) => `${k} ${v}`)
          .join(' · ') || 'none',
      ),
      stats.stepStatistics.length ? funnel(stats.stepStatistics, titles) : h('p', { class: 'muted' }, 'No steps reached yet.'),
      h('h3', {}, 'Milestones'),
      h(
        'ul',
        { class: 'milestone-counts', testid: 'stat-milestones' },
        ...stats.milestones.map((m) =>
          h('li', { testid: `stat-milestone-${m.threshold}`, 'data-value': m.reachedCount }, `${m.threshold} %: ${m.reachedCount}`),
        ),
      ),
    );
  }

  function showHours(bh: BusinessHours): void {
    bhStatus.textContent =
      bh.configured && bh.config
        ? `Configured (${bh.config.timezone}): ${Object.keys(bh.config.schedule).map(humanize).join(', ') || 'no open days'}.`
        : 'Not configured: the tenant counts as always open.';
    bhStatus.dataset.configured = String(bh.configured);
  }

  async function hours(label: string, fn: () => Promise<BusinessHours>): Promise<void> {
    try {
      showHours(await fn());
      bhResult.textContent = label;
    } catch (err) {
      bhResult.textContent = describeError(err);
    }
  }

  typeSelect.addEventListener('change', () => void load());
  refresh.addEventListener('click', () => void load());

  replace(
    container,
    h('h1', {}, 'Statistics'),
    h('div', { class: 'toolbar' }, h('label', { for: 'stats-type' }, 'Flow'), typeSelect, refresh),
    h('section', { class: 'card' }, body),
    trends.element,
    h(
      'section',
      { class: 'card', testid: 'business-hours' },
      h('h2', {}, 'Business hours'),
      bhStatus,
      h(
        'div',
        { class: 'buttons' },
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            testid: 'bh-set',
            onclick: () => void hours('Saved weekday hours 09:00–17:00.', () => client.businessHoursPut(WEEKDAY_HOURS)),
          },
          'Set weekdays 09:00–17:00',
        ),
        h(
          'button',
          { type: 'button', class: 'danger', testid: 'bh-delete', onclick: () => void hours('Business hours removed.', () => client.businessHoursDelete()) },
          'Remove business hours',
        ),
      ),
      bhResult,
    ),
  );
  void load();
  void hours('', () => client.businessHoursGet());
  return () => {
    left = true;
    trends.dispose();
  };
}
