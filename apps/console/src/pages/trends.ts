import type { RouteResponse } from '@glavito/client';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Ctx } from '../context.js';
import { formatMinutes, h, replace } from '../dom.js';
import { describeError } from '../errors.js';

type Timeseries = RouteResponse<'statisticsTimeseries'>;
type Cohorts = RouteResponse<'statisticsCohorts'>;
type Metric = Timeseries['metric'];
type Interval = Timeseries['interval'];
type FlowType = '' | 'tenant_setup' | 'agent_welcome';

const METRICS: ReadonlyArray<[Metric, string]> = [
  ['starts', 'Starts'],
  ['completions', 'Completions'],
  ['abandonments', 'Abandonments'],
  ['completion_rate', 'Completion rate'],
  ['median_time_to_complete', 'Median time to complete'],
];
const COLORS = ['#2f5bd3', '#1f8a4c', '#b7791f', '#c0392b', '#7b4fc9', '#13808a', '#8a94a6', '#d35400', '#2c3e50', '#a93f73', '#5d8a1f', '#3b6ea8'];

// Session counts are whole: ticks on 1, 2, 5, 10, … never on 0.5.
const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000];
const daySeconds = (day: string) => Date.parse(`${day}T00:00:00Z`) / 1000;
const fmtValue = (unit: Timeseries['unit'], v: number | null) =>
  v === null ? '—' : unit === 'percent' ? `${Math.round(v * 10) / 10} %` : unit === 'minutes' ? formatMinutes(v) : String(v);

/** The chart's width follows its card; uPlot needs pixels, so a fallback covers a card not laid out yet. */
const widthOf = (el: HTMLElement) => Math.max(320, el.clientWidth || 720);

/**
 * Draws with uPlot (canvas; it sets element.style from JS, which the CSP allows, and never inline style
 * attributes). Every chart also carries the exact series it drew, as a `data-points` JSON attribute and as
 * a visually hidden table, for screen readers and for the browser test that compares them with the API.
 */
export function renderTrends(ctx: Ctx): { element: HTMLElement; load: (type: FlowType) => Promise<void>; dispose: () => void } {
  const { client } = ctx;
  let type: FlowType = '';
  let trendPlot: uPlot | null = null;
  let cohortPlot: uPlot | null = null;
  // Separate counters: a metric change must not drop the cohorts' answer still on its way.
  let trendGen = 0;
  let cohortGen = 0;

  const metricSelect = h('select', { id: 'trend-metric', testid: 'trend-metric' }, ...METRICS.map(([v, label]) => h('option', { value: v }, label)));
  const intervalSelect = h(
    'select',
    { id: 'trend-interval', testid: 'trend-interval' },
    h('option', { value: 'day' }, 'Day'),
    h('option', { value: 'week' }, 'Week'),
  );
  const trendFigure = h('figure', { class: 'chart', testid: 'trend-chart', 'data-state': 'loading' });
  const trendCaption = h('figcaption', { class: 'muted' });
  const cohortFigure = h('figure', { class: 'chart', testid: 'cohort-chart', 'data-state': 'loading' });
  const cohortCaption = h('figcaption', { class: 'muted' });

  function drawTrend(ts: Timeseries): void {
    trendPlot?.destroy();
    const xs = ts.points.map((p) => daySeconds(p.start));
    const ys = ts.points.map((p) => p.value);
    const label = METRICS.find(([m]) => m === ts.metric)?.[1] ?? ts.metric;
    const plotBox = h('div', { class: 'chart-canvas', 'aria-hidden': 'true' });
    const table = h(
      'table',
      { class: 'sr-only', testid: 'trend-points' },
      h('caption', {}, `${label} per ${ts.interval}`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, ts.interval === 'week' ? 'Week of' : 'Day'),
          h('th', { scope: 'col' }, label),
          h('th', { scope: 'col' }, 'Sessions'),
        ),
      ),
      h(
        'tbody',
        {},
        ...ts.points.map((p) =>
          h(
            'tr',
            { 'data-start': p.start, 'data-value': p.value === null ? 'null' : p.value, 'data-sessions': p.sessions },
            h('th', { scope: 'row' }, p.start),
            h('td', {}, fmtValue(ts.unit, p.value)),
            h('td', {}, p.sessions),
          ),
        ),
      ),
    );
    trendCaption.textContent = `${label} per ${ts.interval} (UTC), ${ts.from} to ${ts.to} (exclusive)${ts.unit === 'sessions' ? '' : `, in ${ts.unit}`}.`;
    replace(trendFigure, plotBox, trendCaption, table);
    trendFigure.dataset.metric = ts.metric;
    trendFigure.dataset.interval = ts.interval;
    trendFigure.dataset.type = ts.type ?? '';
    trendFigure.dataset.points = JSON.stringify(ts.points.map((p) => [p.start, p.value]));
    const weekly = ts.interval === 'week';
    trendPlot = new uPlot(
      {
        width: widthOf(trendFigure),
        height: 260,
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, ts.unit === 'percent' ? 100 : Math.max(1, max)] } },
        // Weekly points start on Mondays: ticks every whole week (or several) land on them, not on uPlot's 5-day steps.
        axes: [
          weekly ? { incrs: [7, 14, 28, 56].map((d) => d * 86_400) } : {},
          { values: (_u, splits) => splits.map((v) => fmtValue(ts.unit, v)), size: 70, ...(ts.unit === 'sessions' ? { incrs: COUNT_STEPS } : {}) },
        ],
        series: [
          { value: (_u, v) => (v === null ? '—' : new Date(v * 1000).toISOString().slice(0, 10)) },
          {
            label,
            stroke: COLORS[0],
            fill: 'rgba(47, 91, 211, 0.12)',
            width: 2,
            spanGaps: false,
            points: { show: true, size: weekly || xs.length <= 40 ? 6 : 3 },
            value: (_u, v) => fmtValue(ts.unit, v),
          },
        ],
      },
      [xs, ys],
      plotBox,
    );
    trendFigure.dataset.state = 'ready';
  }

  function drawCohorts(data: Cohorts): void {
    cohortPlot?.destroy();
    const maxWeek = Math.max(1, ...data.cohorts.flatMap((c) => c.curve.map((p) => p.week)));
    const weeks = Array.from({ length: maxWeek }, (_, i) => i + 1);
    // Only cohorts with sessions and at least one whole week behind them have a curve worth a line (an empty
    // cohort is a flat 0 % that only clutters the legend); every cohort stays in the table.
    const plotted = data.cohorts.filter((c) => c.sessions > 0 && c.curve.length > 0);
    const plotBox = h('div', { class: 'chart-canvas', 'aria-hidden': 'true' });
    const table = h(
      'table',
      { class: 'sr-only', testid: 'cohort-points' },
      h('caption', {}, 'Weekly start cohorts: share completed within 1, 2, … weeks of their start'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Cohort (week of)'),
          h('th', { scope: 'col' }, 'Sessions'),
          h('th', { scope: 'col' }, 'Completed'),
          ...weeks.map((w) => h('th', { scope: 'col' }, `Week ${w}`)),
        ),
      ),
      h(
        'tbody',
        {},
        ...data.cohorts.map((c) =>
          h(
            'tr',
            {
              'data-week-start': c.weekStart,
              'data-sessions': c.sessions,
              'data-completed': c.completed,
              'data-curve': JSON.stringify(c.curve.map((p) => [p.week, p.completed, p.share])),
            },
            h('th', { scope: 'row' }, c.weekStart),
            h('td', {}, c.sessions),
            h('td', {}, c.completed),
            ...weeks.map((w) => {
              const p = c.curve.find((q) => q.week === w);
              return h('td', {}, p ? `${Math.round(p.share * 10) / 10} % (${p.completed})` : '—');
            }),
          ),
        ),
      ),
    );
    const recent = data.cohorts.filter((c) => c.curve.length === 0 && c.sessions > 0);
    cohortCaption.textContent =
      `Weekly start cohorts (UTC, weeks from Monday), ${data.from} to ${data.to}: percent of each cohort completed within n weeks of its start.` +
      (recent.length ? ` Too recent for a curve: ${recent.map((c) => `week of ${c.weekStart}`).join(', ')}.` : '') +
      (data.cohorts.length === 0 ? ' No sessions started in this window.' : '');
    const legend = h(
      'ul',
      { class: 'cohort-summary', testid: 'cohort-summary' },
      ...data.cohorts.filter((c) => c.sessions > 0).map((c) => h('li', {}, `Week of ${c.weekStart}: ${c.sessions} started, ${c.completed} completed`)),
    );
    cohortFigure.dataset.type = data.type ?? '';
    cohortFigure.dataset.points = JSON.stringify(plotted.map((c) => ({ weekStart: c.weekStart, points: c.curve.map((p) => [p.week, p.share]) })));
    cohortPlot = null;
    if (plotted.length === 0) {
      replace(
        cohortFigure,
        h('p', { class: 'muted', testid: 'cohort-empty' }, 'No cohort with sessions has a whole week behind it yet, so there is no completion curve to draw.'),
        cohortCaption,
        legend,
        table,
      );
      cohortFigure.dataset.state = 'ready';
      return;
    }
    replace(cohortFigure, plotBox, cohortCaption, legend, table);
    cohortPlot = new uPlot(
      {
        width: widthOf(cohortFigure),
        height: 260,
        scales: { x: { time: false, range: [1, Math.max(2, maxWeek)] }, y: { range: [0, 100] } },
        axes: [
          { label: 'Weeks since start', values: (_u, splits) => splits.map((v) => (Number.isInteger(v) ? String(v) : '')) },
          { values: (_u, splits) => splits.map((v) => `${v} %`), size: 60 },
        ],
        series: [
          { label: 'Week' },
          ...plotted.map((c, i) => ({
            label: `Week of ${c.weekStart}`,
            stroke: COLORS[i % COLORS.length],
            width: 2,
            points: { show: true, size: 6 },
            value: (_u: uPlot, v: number | null) => (v === null ? '—' : `${Math.round(v * 10) / 10} %`),
          })),
        ],
      },
      [weeks, ...plotted.map((c) => weeks.map((w) => c.curve.find((p) => p.week === w)?.share ?? null))],
      plotBox,
    );
    cohortFigure.dataset.state = 'ready';
  }

  async function loadTrend(gen: number): Promise<void> {
    trendFigure.dataset.state = 'loading';
    try {
      const ts = await client.statisticsTimeseries({
        metric: metricSelect.value as Metric,
        interval: intervalSelect.value as Interval,
        ...(type ? { type } : {}),
      });
      if (gen === trendGen) drawTrend(ts);
    } catch (err) {
      if (gen !== trendGen) return;
      trendFigure.dataset.state = 'error';
      replace(trendFigure, h('p', { class: 'banner error', role: 'alert', testid: 'trend-error' }, describeError(err)));
    }
  }

  async function loadCohorts(gen: number): Promise<void> {
    cohortFigure.dataset.state = 'loading';
    try {
      const data = await client.statisticsCohorts(type ? { type } : {});
      if (gen === cohortGen) drawCohorts(data);
    } catch (err) {
      if (gen !== cohortGen) return;
      cohortFigure.dataset.state = 'error';
      replace(cohortFigure, h('p', { class: 'banner error', role: 'alert', testid: 'cohort-error' }, describeError(err)));
    }
  }

  // A newer request wins: an older answer arriving late is dropped, so the chart matches the selectors.
  metricSelect.addEventListener('change', () => void loadTrend(++trendGen));
  intervalSelect.addEventListener('change', () => void loadTrend(++trendGen));

  const element = h(
    'div',
    { class: 'trends' },
    h(
      'section',
      { class: 'card', testid: 'trends' },
      h('h2', {}, 'Trends'),
      h(
        'div',
        { class: 'toolbar' },
        h('label', { for: 'trend-metric' }, 'Metric'),
        metricSelect,
        h('label', { for: 'trend-interval' }, 'Interval'),
        intervalSelect,
      ),
      trendFigure,
    ),
    h('section', { class: 'card', testid: 'cohorts' }, h('h2', {}, 'Cohorts'), cohortFigure),
  );

  return {
    element,
    load: async (t) => {
      type = t;
      await Promise.all([loadTrend(++trendGen), loadCohorts(++cohortGen)]);
    },
    dispose: () => {
      trendGen++;
      cohortGen++;
      trendPlot?.destroy();
      cohortPlot?.destroy();
    },
  };
}
