import type { RouteBody, RouteResponse } from '@glavito/client';
import type { Ctx } from '../context.js';
import { h, humanize, replace } from '../dom.js';
import { describeError, isStatus } from '../errors.js';
import { createSchemaForm, type FieldError, type JsonSchema, type SchemaForm } from '../schema-form.js';

type Channel = RouteBody<'testConnection'>['channel'];
type Result = RouteResponse<'testConnection'>['result'];

const str = (extra: JsonSchema = {}): JsonSchema => ({ type: 'string', ...extra });
const secret: JsonSchema = { type: 'string', writeOnly: true };
const port: JsonSchema = { type: 'integer', minimum: 1, maximum: 65535 };
const mailServer = (defaultPort: number): JsonSchema => ({
  type: 'object',
  properties: {
    host: str(),
    port: { ...port, description: `e.g. ${defaultPort}` },
    secure: { type: 'boolean', description: 'TLS from the first byte (465/993)' },
    username: str(),
    password: secret,
  },
  required: ['host', 'port', 'username', 'password'],
});

/** What each channel's test needs: drawn with the same form renderer as the steps; the server checks it (422). */
const CHANNELS: Record<Channel, JsonSchema> = {
  email: { type: 'object', properties: { smtp: mailServer(587), imap: mailServer(993) } },
  slack: {
    type: 'object',
    properties: { botToken: { ...secret, description: 'xoxb-…' }, requiredScopes: { type: 'array', items: str() } },
    required: ['botToken'],
  },
  teams: { type: 'object', properties: { tenantId: str(), clientId: str(), clientSecret: secret }, required: ['tenantId', 'clientId', 'clientSecret'] },
  whatsapp: { type: 'object', properties: { phoneNumberId: str(), accessToken: secret }, required: ['phoneNumberId', 'accessToken'] },
  webhook: {
    type: 'object',
    properties: {
      url: str({ title: 'URL', description: 'http(s) endpoint that receives a signed test POST' }),
      secret: { ...secret, description: 'signs the body (X-Glavito-Signature)' },
    },
    required: ['url'],
  },
  stripe: {
    type: 'object',
    properties: { secretKey: { ...secret, description: 'sk_test_… or rk_…' }, accountId: str({ description: 'acct_… (optional)' }) },
    required: ['secretKey'],
  },
  database: {
    type: 'object',
    properties: {
      connectionString: { ...secret, description: 'postgres://user:pass@host:5432/db, or the fields below' },
      host: str(),
      port,
      database: str(),
      user: str(),
      password: secret,
      ssl: { type: 'boolean' },
    },
  },
  ai_provider: {
    type: 'object',
    properties: { provider: { type: 'string', enum: ['openai', 'anthropic', 'google'] }, apiKey: secret, model: str() },
    required: ['provider', 'apiKey'],
  },
};

export function renderConnections(ctx: Ctx, container: HTMLElement): () => void {
  const { client } = ctx;
  let left = false;
  let sessionId: string | null = null;
  let channel: Channel = 'webhook';
  let form: SchemaForm = createSchemaForm(CHANNELS[channel], undefined, 'conn');
  let nextCursor: string | null = null;

  const errorBox = h('div', { class: 'banner error', testid: 'conn-error', role: 'alert', hidden: true });
  const channelSelect = h(
    'select',
    { id: 'conn-channel', testid: 'conn-channel' },
    ...Object.keys(CHANNELS).map((c) => h('option', { value: c }, humanize(c))),
  );
  channelSelect.value = channel;
  const timeout = h('input', { id: 'conn-timeout', type: 'number', min: 100, max: 30000, step: 100, placeholder: '10000', testid: 'conn-timeout' });
  const formSlot = h('div', {}, form.element);
  const run = h('button', { type: 'submit', testid: 'conn-run' }, 'Run test');
  const validate = h('button', { type: 'button', class: 'secondary', testid: 'conn-validate' }, 'Check config only');
  const status = h('p', { class: 'step-message', testid: 'conn-progress', role: 'status', 'aria-live': 'polite' });
  const resultEl = h('section', { class: 'card', testid: 'conn-result', hidden: true, 'aria-live': 'polite' });
  const historyList = h('ol', { class: 'history', testid: 'conn-history' });
  const more = h('button', { type: 'button', class: 'secondary', testid: 'conn-history-more', hidden: true }, 'Older tests');

  channelSelect.addEventListener('change', () => {
    channel = channelSelect.value as Channel;
    form = createSchemaForm(CHANNELS[channel], undefined, 'conn');
    replace(formSlot, form.element);
    resultEl.hidden = true;
  });

  function body(): RouteBody<'testConnection'> {
    const t = timeout.value === '' ? undefined : Number(timeout.value);
    return { channel, config: form.value(), ...(t !== undefined ? { timeout: t } : {}) };
  }

  function fieldErrors(err: unknown): boolean {
    if (!isStatus(err, 400, 422) || !err.details?.length) return false;
    // The config's fields are reported as config.<field>; the form knows them without the prefix.
    const errors = (err.details as FieldError[]).map((d) => ({ ...d, field: d.field.replace(/^config\.?/, '') }));
    form.showErrors(errors);
    return true;
  }

  const formEl = h(
    'form',
    { class: 'card', novalidate: true, testid: 'conn-form' },
    h('h2', {}, 'Test a connection'),
    h('div', { class: 'field' }, h('label', { for: 'conn-channel' }, 'Channel'), channelSelect),
    formSlot,
    h('div', { class: 'field' }, h('label', { for: 'conn-timeout' }, 'Timeout (ms)'), timeout),
    h('div', { class: 'buttons' }, run, validate),
    status,
  );
  formEl.addEventListener('submit', (e) => {
    e.preventDefault();
    void runTest();
  });
  validate.addEventListener('click', () => void checkConfig());
  more.addEventListener('click', () => void loadHistory(false));

  async function runTest(): Promise<void> {
    if (!sessionId) return;
    form.clearErrors();
    run.disabled = true;
    // The previous result must not stand beside this test's refusal.
    resultEl.hidden = true;
    status.textContent = 'Testing…';
    try {
      const { result } = await client.testConnection({ sessionId }, body());
      status.textContent = '';
      showResult(result);
      // A config the test refused lists its fields in details.errors: shown beside them, like a 422.
      const errors = (result.details as { errors?: unknown }).errors;
      if (result.errorCode === 'config_invalid' && Array.isArray(errors)) {
        form.showErrors((errors as FieldError[]).map((d) => ({ ...d, field: d.field.replace(/^config\.?/, '') })));
      }
      void loadHistory(true);
    } catch (err) {
      status.textContent = fieldErrors(err) ? 'Please fix the highlighted fields.' : describeError(err);
    } finally {
      run.disabled = false;
    }
  }

  async function checkConfig(): Promise<void> {
    form.clearErrors();
    try {
      const res = await client.validateConnectionConfig({ channel, config: form.value() });
      if (res.isValid) status.textContent = 'The configuration is valid.';
      else {
        const unmatched = form.showErrors(res.errors.map((d) => ({ ...d, field: d.field.replace(/^config\.?/, '') })));
        status.textContent = unmatched.length ? unmatched.map((u) => u.message).join(' ') : 'Please fix the highlighted fields.';
      }
    } catch (err) {
      status.textContent = describeError(err);
    }
  }

  function showResult(r: Result): void {
    resultEl.hidden = false;
    replace(
      resultEl,
      h('h2', {}, `Result: ${humanize(r.channel)}`),
      h(
        'p',
        {},
        h('span', { class: `badge result-${r.status}`, testid: 'conn-status' }, r.status),
        ' ',
        h('span', { testid: 'conn-message' }, r.message),
        ` · ${r.responseTime} ms`,
      ),
      r.errorCode ? h('p', {}, 'Error code: ', h('code', { testid: 'conn-error-code' }, r.errorCode)) : null,
      r.hint ? h('p', { class: 'banner', testid: 'conn-hint' }, r.hint) : null,
      h(
        'table',
        { class: 'checks', testid: 'conn-checks' },
        h('caption', {}, 'Checks, in the order they ran'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, 'Check'),
            h('th', { scope: 'col' }, 'Status'),
            h('th', { scope: 'col' }, 'Time'),
            h('th', { scope: 'col' }, 'Message'),
          ),
        ),
        h(
          'tbody',
          {},
          ...r.checks.map((c) =>
            h(
              'tr',
              { testid: 'conn-check', 'data-name': c.name, 'data-status': c.status },
              h('td', {}, humanize(c.name)),
              h('td', {}, h('span', { class: `badge result-${c.status}` }, c.status)),
              h('td', {}, `${Math.round(c.durationMs)} ms`),
              h('td', {}, c.message ?? ''),
            ),
          ),
        ),
      ),
    );
  }

  async function loadHistory(reset: boolean): Promise<void> {
    if (!sessionId) return;
    try {
      const page = await client.connectionHistory({ sessionId }, { limit: 10, ...(reset || !nextCursor ? {} : { cursor: nextCursor }) });
      if (left) return;
      if (reset) historyList.replaceChildren();
      for (const item of page.items) {
        historyList.append(
          h(
            'li',
            { testid: 'conn-history-item', 'data-status': item.status, 'data-channel': item.channel },
            h('span', { class: `badge result-${item.status}` }, item.status),
            ` ${humanize(item.channel)} · ${item.message}${item.errorCode ? ` (${item.errorCode})` : ''} · `,
            h('time', { datetime: item.timestamp }, new Date(item.timestamp).toLocaleString()),
          ),
        );
      }
      if (historyList.children.length === 0) historyList.append(h('li', { class: 'muted' }, 'No tests yet.'));
      nextCursor = page.nextCursor;
      more.hidden = nextCursor === null;
    } catch (err) {
      errorBox.hidden = false;
      errorBox.textContent = describeError(err);
    }
  }

  replace(
    container,
    h('h1', {}, 'Connection tests'),
    errorBox,
    h('div', { class: 'two-col' }, formEl, h('div', {}, resultEl, h('section', { class: 'card' }, h('h2', {}, 'History'), historyList, more))),
  );

  void (async () => {
    try {
      const { session } = await client.status();
      if (left) return;
      if (!session) {
        errorBox.hidden = false;
        errorBox.textContent = 'Connection tests belong to an onboarding session: start one on the Onboarding page first.';
        run.disabled = true;
        return;
      }
      sessionId = session.id;
      await loadHistory(true);
    } catch (err) {
      errorBox.hidden = false;
      errorBox.textContent = describeError(err);
    }
  })();

  return () => {
    left = true;
  };
}
