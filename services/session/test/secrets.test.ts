import { Writable } from 'node:stream';
import { MASK, SessionWithProgressSchema, StatusResponseSchema, StepSaveResponseSchema } from '@glavito/contracts';
import { createLogger } from '@glavito/logging';
import { readStream, waitFor } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, type SessionHarness } from './helpers.js';

/** Every log line the service writes, at trace level, kept in memory. */
const logLines: string[] = [];
const logSink = new Writable({
  write(chunk: Buffer | string, _encoding, callback) {
    logLines.push(...chunk.toString().split('\n').filter(Boolean));
    callback();
  },
});

let h: SessionHarness;
beforeAll(async () => {
  h = await startHarness({ loggerInstance: createLogger('session', 'trace', logSink) });
});
afterAll(async () => {
  await h?.close();
});

const admin = { userId: 'admin-secrets', tenantId: 'tenant-secrets', roles: ['admin'] };

// One distinctive marker, so a leak anywhere (even a fragment inside a longer string) is found by substring.
const MARK = 'CANARY7f3a';
const CANARY = {
  slackBotToken: `xoxb-${MARK}-slack-bot-token`,
  slackSigningSecret: `${MARK}-slack-signing-secret`,
  whatsappAccessToken: `${MARK}-whatsapp-access-token`,
  emailPassword: `${MARK}-email-password`,
  aiApiKey: `sk-${MARK}-openai-api-key`,
  rejectedPassword: `${MARK}-rejected-password`,
  rejectedPort: `${MARK}-rejected-port`,
  validateOnly: `${MARK}-validate-only-token`,
  validateQuery: `${MARK}-validate-query-token`,
  malformedQuery: `${MARK}-malformed-query-token`,
  malformedBody: `${MARK}-malformed-body-password`,
};

const channelConfiguration = {
  email: { enabled: true, address: 'help@secrets.test', smtpHost: 'smtp.secrets.test', smtpPort: 587, username: 'help', password: CANARY.emailPassword },
  whatsapp: { enabled: true, phoneNumberId: '1234567890', accessToken: CANARY.whatsappAccessToken },
  slack: { enabled: true, workspace: 'acme', botToken: CANARY.slackBotToken, signingSecret: CANARY.slackSigningSecret },
};
const aiConfiguration = { aiProvider: 'openai', model: 'gpt-4o-mini', apiKey: CANARY.aiApiKey, features: ['ticketClassification'] };

/** Every response body this file received; all are checked at the end, not just the saves. */
const bodies: Array<{ what: string; body: string }> = [];
let sessionId: string;

/** `payload` as a string is sent raw (application/json), e.g. to send malformed JSON. */
async function call(what: string, method: 'GET' | 'POST' | 'PUT', url: string, payload?: object | string) {
  const headers = { ...bearer(admin), ...(typeof payload === 'string' ? { 'content-type': 'application/json' } : {}) };
  const r = await h.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
  bodies.push({ what, body: r.body });
  return r;
}

describe('credentials in step data', () => {
  it('saves credential fields and answers with them masked', async () => {
    const start = await call('start', 'POST', '/onboarding/start', {});
    expect(start.statusCode, start.body).toBe(201);
    sessionId = SessionWithProgressSchema.parse(start.json()).session.id;

    const org = await call('save organization_setup', 'PUT', `/onboarding/step/${sessionId}/organization_setup`, {
      companyName: 'Secret Corp',
      primaryColor: '#000000',
    });
    expect(org.statusCode, org.body).toBe(200);

    const channels = await call('save channel_configuration', 'PUT', `/onboarding/step/${sessionId}/channel_configuration`, channelConfiguration);
    expect(channels.statusCode, channels.body).toBe(200);
    const saved = StepSaveResponseSchema.parse(channels.json()).session.stepData.channel_configuration!;
    expect(saved).toEqual({
      email: { ...channelConfiguration.email, password: MASK },
      whatsapp: { ...channelConfiguration.whatsapp, accessToken: MASK },
      slack: { ...channelConfiguration.slack, botToken: MASK, signingSecret: MASK },
    });

    const ai = await call('save ai_configuration', 'PUT', `/onboarding/step/${sessionId}/ai_configuration`, aiConfiguration);
    expect(ai.statusCode, ai.body).toBe(200);
    const aiSaved = StepSaveResponseSchema.parse(ai.json()).session.stepData.ai_configuration!;
    expect(aiSaved).toEqual({ ...aiConfiguration, apiKey: MASK });
    // Masking covers every step already saved, not only the one just written.
    expect(StepSaveResponseSchema.parse(ai.json()).session.stepData.channel_configuration).toEqual(saved);
  });

  it('rejects invalid step data carrying a credential with 422, without echoing it', async () => {
    const unknownField = await call('422 unknown field', 'PUT', `/onboarding/step/${sessionId}/channel_configuration`, {
      email: { enabled: true, password: CANARY.rejectedPassword, passwordHint: 'not a field' },
    });
    expect(unknownField.statusCode, unknownField.body).toBe(422);
    expect(unknownField.json()).toMatchObject({
      code: 'SESSION_STEP_DATA_INVALID',
      details: [{ field: 'email.passwordHint', rule: 'unknown_field' }],
    });

    // The credential itself in a field of the wrong type: the message names the field, not the value.
    const wrongType = await call('422 wrong type', 'PUT', `/onboarding/step/${sessionId}/channel_configuration`, {
      email: { enabled: true, smtpPort: CANARY.rejectedPort },
    });
    expect(wrongType.statusCode, wrongType.body).toBe(422);
    expect(wrongType.json()).toMatchObject({ code: 'SESSION_STEP_DATA_INVALID', details: [{ field: 'email.smtpPort', rule: 'type' }] });

    const validate = await call('validate-step', 'POST', '/onboarding/validate-step/channel_configuration', {
      slack: { enabled: true, botToken: CANARY.validateOnly },
    });
    expect(validate.statusCode, validate.body).toBe(200);
    expect(validate.json()).toMatchObject({ isValid: true });

    // The documented GET form puts step data in the URL, which request logs include.
    const query = (data: string) => `/onboarding/validate-step/channel_configuration?data=${encodeURIComponent(data)}`;
    const validateGet = await call('validate-step GET', 'GET', query(JSON.stringify({ slack: { enabled: true, botToken: CANARY.validateQuery } })));
    expect(validateGet.statusCode, validateGet.body).toBe(200);
    expect(validateGet.json()).toMatchObject({ isValid: true });
    // Malformed: JSON.parse's own message quotes the input around the error.
    const malformedQuery = await call('validate-step GET malformed', 'GET', query(`{"slack":{"enabled":true,"botToken":${CANARY.malformedQuery}}}`));
    expect(malformedQuery.statusCode, malformedQuery.body).toBe(400);
    expect(malformedQuery.json()).toMatchObject({ code: 'REQUEST_VALIDATION_FAILED' });

    const malformedBody = await call(
      '400 malformed body',
      'PUT',
      `/onboarding/step/${sessionId}/channel_configuration`,
      `{"email":{"enabled":true,"password":${CANARY.malformedBody}}}`,
    );
    expect(malformedBody.statusCode, malformedBody.body).toBe(400);
    expect(malformedBody.json()).toMatchObject({ code: 'REQUEST_JSON_INVALID' });

    // The rejected saves changed nothing that was stored.
    const get = await call('get session', 'GET', `/onboarding/session/${sessionId}`);
    expect(SessionWithProgressSchema.parse(get.json()).session.stepData.channel_configuration!.email).toEqual({
      ...channelConfiguration.email,
      password: MASK,
    });
  });

  it('reads back masked from GET session and GET status', async () => {
    const get = await call('get session', 'GET', `/onboarding/session/${sessionId}`);
    expect(get.statusCode).toBe(200);
    const stepData = SessionWithProgressSchema.parse(get.json()).session.stepData;
    expect(stepData.channel_configuration!.slack).toMatchObject({ botToken: MASK, signingSecret: MASK });
    expect(stepData.channel_configuration!.whatsapp).toMatchObject({ accessToken: MASK });
    expect(stepData.ai_configuration).toMatchObject({ apiKey: MASK });

    const status = await call('status', 'GET', '/onboarding/status');
    expect(status.statusCode).toBe(200);
    const current = StatusResponseSchema.parse(status.json());
    expect(current.session?.id).toBe(sessionId);
    expect(current.session?.stepData.channel_configuration!.email).toMatchObject({ password: MASK });
  });

  it('never puts a credential in a response body', () => {
    expect(bodies.length).toBeGreaterThanOrEqual(12);
    for (const { what, body } of bodies) expect(body, what).not.toContain(MARK);
  });

  it('stores credentials sealed (AES-GCM), not in plain text and not dropped', async () => {
    const sessions = await h.db.pool.query<{ step_data: string; metadata: string }>('SELECT step_data::text, metadata::text FROM session.sessions');
    expect(sessions.rows).toHaveLength(1);
    for (const row of sessions.rows) {
      expect(row.step_data).not.toContain(MARK);
      expect(row.metadata).not.toContain(MARK);
    }
    const outbox = await h.db.pool.query<{ payload: string }>('SELECT payload::text FROM session.outbox');
    expect(outbox.rows.length).toBeGreaterThan(0);
    for (const row of outbox.rows) expect(row.payload).not.toContain(MARK);

    const { rows } = await h.db.pool.query<{ step_data: Record<string, Record<string, Record<string, unknown>>> }>(
      'SELECT step_data FROM session.sessions WHERE id = $1',
      [sessionId],
    );
    const stored = rows[0]!.step_data;
    expect(stored.channel_configuration!.slack!.botToken).toEqual({ $sealed: expect.stringMatching(/^v1\./) });
    expect(stored.channel_configuration!.email!.password).toEqual({ $sealed: expect.stringMatching(/^v1\./) });
    expect(stored.ai_configuration!.apiKey).toEqual({ $sealed: expect.stringMatching(/^v1\./) });
    // Non-credential fields stay readable (only credentials are sealed).
    expect(stored.channel_configuration!.email!.smtpHost).toBe('smtp.secrets.test');

    // Encryption, not deletion: the service's key opens every sealed value again.
    const opened = h.app.secretBox.open(stored);
    expect(opened.channel_configuration).toEqual(channelConfiguration);
    expect(opened.ai_configuration).toEqual(aiConfiguration);
  });

  it('never puts a credential in an event', async () => {
    // Audit events share the outbox but travel on their own stream (checked below).
    const { rows } = await h.db.pool.query<{ n: string }>("SELECT count(*) AS n FROM session.outbox WHERE payload->>'type' <> 'audit.recorded'");
    const expected = Number(rows[0]!.n);
    const events = await waitFor(async () => {
      const all = await readStream(h.nats);
      return all.length === expected ? all : null;
    });
    // start (2), three saves, two rejected saves (step.validation_failed).
    expect(events.map((e) => e.event.type)).toEqual([
      'session.started',
      'step.completed',
      'step.completed',
      'step.completed',
      'step.completed',
      'step.validation_failed',
      'step.validation_failed',
    ]);
    for (const e of events) expect(JSON.stringify(e), `${e.event.type} #${e.event.sessionSeq}`).not.toContain(MARK);
    // The audit records of the credentials saved name the fields, never a value.
    const audit = await waitFor(async () => {
      const all = await readStream(h.nats, h.nats.auditStream);
      return all.some((e) => (e.event as unknown as { action: string }).action === 'step.credentials_change') ? all : null;
    });
    for (const e of audit) expect(JSON.stringify(e)).not.toContain(MARK);
  });

  it('never puts a credential in a log line, even at trace level', async () => {
    // The relay logs from its own loop; let the last publish settle before reading the sink.
    await waitFor(async () => (await h.app.outboxRelay.pending()) === 0);
    expect(logLines.length).toBeGreaterThan(0);
    // Sanity: the sink really received the request logs of the calls that carried credentials.
    const parsed = logLines.map((l) => JSON.parse(l) as { level: number; msg?: string; statusCode?: number });
    expect(parsed.some((l) => l.msg === 'request' && l.statusCode === 422)).toBe(true);
    expect(logLines.some((l) => l.includes('validate-step/channel_configuration?data=[REDACTED]'))).toBe(true);
    for (const line of logLines) expect(line).not.toContain(MARK);
  });
});

describe('start metadata', () => {
  it('seals and masks credential-like metadata keys', async () => {
    const user = { userId: 'meta-user', tenantId: 'tenant-meta', roles: ['admin'] };
    const r = await h.app.inject({
      method: 'POST',
      url: '/onboarding/start',
      headers: bearer(user),
      payload: { metadata: { source: 'ads', apiToken: 'META-CANARY-123' } },
    });
    expect(r.statusCode).toBe(201);
    expect(r.body).not.toContain('META-CANARY-123');
    expect(r.json().session.metadata).toEqual({ source: 'ads', apiToken: '********' });
    const { rows } = await h.db.pool.query("SELECT metadata::text AS m FROM session.sessions WHERE user_id = 'meta-user'");
    expect(rows[0].m).not.toContain('META-CANARY-123');
  });
});

describe('a form re-saved with the masks it was filled with', () => {
  it('keeps the stored credentials where the mask comes back, and refuses a mask where nothing is stored', async () => {
    const read = SessionWithProgressSchema.parse((await call('read for edit', 'GET', `/onboarding/session/${sessionId}`)).json());
    const shown = read.session.stepData.channel_configuration as typeof channelConfiguration;
    expect(shown.email.password).toBe(MASK);
    // The user changes the host only; the form sends the masks back as they were shown.
    const edited = { ...shown, email: { ...shown.email, smtpHost: 'smtp2.secrets.test' } };
    const saved = await call('re-save with masks', 'PUT', `/onboarding/step/${sessionId}/channel_configuration`, edited);
    expect(saved.statusCode, saved.body).toBe(200);
    const { rows } = await h.db.pool.query<{ step_data: Record<string, unknown> }>('SELECT step_data FROM session.sessions WHERE id = $1', [sessionId]);
    const opened = h.app.secretBox.open(rows[0]!.step_data) as { channel_configuration: typeof channelConfiguration };
    expect(opened.channel_configuration).toEqual({ ...channelConfiguration, email: { ...channelConfiguration.email, smtpHost: 'smtp2.secrets.test' } });

    const teams = { ...edited, teams: { enabled: true, tenantId: 't', clientId: 'c', clientSecret: MASK } };
    const refused = await call('mask without a stored credential', 'PUT', `/onboarding/step/${sessionId}/channel_configuration`, teams);
    expect(refused.statusCode).toBe(422);
    expect(refused.json().details).toEqual([expect.objectContaining({ field: 'teams.clientSecret', rule: 'masked_secret' })]);
    const after = await h.db.pool.query<{ step_data: Record<string, unknown> }>('SELECT step_data FROM session.sessions WHERE id = $1', [sessionId]);
    expect(after.rows[0]!.step_data).toEqual(rows[0]!.step_data);
  });
});
