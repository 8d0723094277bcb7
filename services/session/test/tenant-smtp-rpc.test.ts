import { createDecipheriv, randomBytes } from 'node:crypto';
import { callRpc } from '@glavito/bus';
import { rpcSubject, tenantSmtpAad, TenantSmtpReplySchema, TenantSmtpSettingsSchema, type TenantSmtpRequest } from '@glavito/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, type SessionHarness } from './helpers.js';

const KEY = randomBytes(32);
const PASSWORD = 'tenant-smtp-canary-Pa55';
const admin = { userId: 'smtp_admin', tenantId: 'smtp_tenant', roles: ['admin'] };

/** The notification side of the contract, written from contracts/rpc.ts (not imported from that service). */
function open(sealed: string, req: TenantSmtpRequest, key = KEY) {
  const [version, iv, tag, data] = sealed.split('.');
  expect(version).toBe('v1');
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv!, 'base64url'));
  d.setAAD(Buffer.from(tenantSmtpAad(req), 'utf8'));
  d.setAuthTag(Buffer.from(tag!, 'base64url'));
  return TenantSmtpSettingsSchema.parse(JSON.parse(Buffer.concat([d.update(Buffer.from(data!, 'base64url')), d.final()]).toString('utf8')));
}

let h: SessionHarness;
let sessionId: string;
beforeAll(async () => {
  h = await startHarness({ env: { NOTIFY_CREDENTIALS_KEY: KEY.toString('base64') } });
  const start = await h.app.inject({ method: 'POST', url: '/onboarding/start', headers: bearer(admin), payload: {} });
  sessionId = start.json().session.id;
  const org = await h.app.inject({
    method: 'PUT',
    url: `/onboarding/step/${sessionId}/organization_setup`,
    headers: bearer(admin),
    payload: { companyName: 'Acme', primaryColor: '#112233' },
  });
  expect(org.statusCode).toBe(200);
});
afterAll(async () => {
  await h?.close();
});

describe('session.tenant_smtp', () => {
  const ask = (req: TenantSmtpRequest) => callRpc(h.nats.nc, rpcSubject(h.config.RPC_SUBJECT_PREFIX, 'session.tenant_smtp'), req, TenantSmtpReplySchema);
  const request = (over: Partial<TenantSmtpRequest> = {}): TenantSmtpRequest => ({
    tenantId: admin.tenantId,
    sessionId,
    nonce: randomBytes(18).toString('base64url'),
    ...over,
  });

  it('not found before the email channel has SMTP settings, for another tenant, or an unknown session', async () => {
    expect(await ask(request())).toEqual({ found: false });
    const save = await h.app.inject({
      method: 'PUT',
      url: `/onboarding/step/${sessionId}/channel_configuration`,
      headers: bearer(admin),
      payload: { email: { enabled: true, address: 'help@acme.test' } },
    });
    expect(save.statusCode).toBe(200);
    expect(await ask(request())).toEqual({ found: false });
  });

  it('seals the settings for the notification service: the password never on the bus in clear, the reply bound to its request', async () => {
    const save = await h.app.inject({
      method: 'PUT',
      url: `/onboarding/step/${sessionId}/channel_configuration`,
      headers: bearer(admin),
      payload: {
        email: { enabled: true, address: 'help@acme.test', smtpHost: 'smtp.acme.test', smtpPort: 465, username: 'help@acme.test', password: PASSWORD },
      },
    });
    expect(save.statusCode).toBe(200);

    const seen: string[] = [];
    const spy = h.nats.nc.subscribe('_INBOX.>', { callback: (_e, m) => void seen.push(m.string()) });
    const req = request();
    const reply = await ask(req);
    spy.unsubscribe();
    expect(reply.found).toBe(true);
    if (!reply.found) return;
    expect(JSON.stringify(reply)).not.toContain(PASSWORD);
    expect(seen.some((s) => s.includes('"sealed"'))).toBe(true);
    expect(seen.join('\n')).not.toContain(PASSWORD);

    expect(open(reply.sealed, req)).toEqual({ host: 'smtp.acme.test', port: 465, username: 'help@acme.test', password: PASSWORD, address: 'help@acme.test' });
    // Another request's nonce, another tenant in the additional data, or another key: it does not open.
    expect(() => open(reply.sealed, { ...req, nonce: request().nonce })).toThrow();
    expect(() => open(reply.sealed, { ...req, tenantId: 'other_tenant' })).toThrow();
    expect(() => open(reply.sealed, req, randomBytes(32))).toThrow();

    expect(await ask(request({ tenantId: 'other_tenant' }))).toEqual({ found: false });
    expect(await ask(request({ sessionId: '0190e2b6-0000-7000-8000-000000000000' }))).toEqual({ found: false });
  });

  it('a disabled email channel is not found', async () => {
    const save = await h.app.inject({
      method: 'PUT',
      url: `/onboarding/step/${sessionId}/channel_configuration`,
      headers: bearer(admin),
      payload: {
        email: { enabled: false, smtpHost: 'smtp.acme.test', smtpPort: 465, username: 'help@acme.test', password: '********' },
        webchat: { enabled: true },
      },
    });
    expect(save.statusCode).toBe(200);
    expect(await ask(request())).toEqual({ found: false });
  });

  it('is not served without NOTIFY_CREDENTIALS_KEY', async () => {
    const other = await startHarness();
    try {
      await expect(
        callRpc(other.nats.nc, rpcSubject(other.config.RPC_SUBJECT_PREFIX, 'session.tenant_smtp'), request(), TenantSmtpReplySchema, 500),
      ).rejects.toMatchObject({ code: expect.stringMatching(/no_responders|timeout/) });
    } finally {
      await other.close();
    }
  });
});
