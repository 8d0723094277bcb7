import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ConnectionTestResultSchema } from '@glavito/contracts';
import { createTestCa, selfSignedCertificate } from '@glavito/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, startHarness, type Harness } from '../helpers.js';

/** HTTPS receivers with a private-CA certificate and a self-signed one, for the webhook's per-test trust. */

const user = { userId: 'u1', tenantId: 't1' };
const CA_HOST = 'hooks.customer.test';
const SELF_HOST = 'self-hooks.customer.test';
const lookup = async (hostname: string) => {
  if (hostname === CA_HOST || hostname === SELF_HOST) return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
};

const ca = createTestCa('Customer Hooks CA');
const servers: https.Server[] = [];
const received: string[] = [];
let caPort: number;
let selfPort: number;
let h: Harness;

async function receiver(pair: { cert: string; key: string }): Promise<number> {
  const server = https.createServer(pair, (req, res) => {
    received.push(`${req.headers.host}${req.url}`);
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  caPort = await receiver(ca.issue([CA_HOST]));
  selfPort = await receiver(selfSignedCertificate([SELF_HOST]));
  h = await startHarness({ env: { CONNECTION_TEST_ALLOWED_CIDRS: '127.0.0.1/32' }, lookup });
  h.addSession({ id: 's1', ...user });
});
afterAll(async () => {
  await h?.close();
  for (const s of servers) s.close();
});

async function test(config: Record<string, unknown>) {
  const r = await h.app.inject({ method: 'POST', url: '/onboarding/test-connection/s1', headers: bearer(user), payload: { channel: 'webhook', config } });
  expect(r.statusCode).toBe(200);
  expect(r.body).not.toContain('BEGIN CERTIFICATE');
  const { result } = r.json();
  ConnectionTestResultSchema.parse(result);
  return result;
}

describe('webhook over HTTPS with per-test trust', () => {
  it('a private CA: refused without tls.caCertificate (the hint names it), a warning with it', async () => {
    const before = received.length;
    const refused = await test({ url: `https://${CA_HOST}:${caPort}/hook`, secret: 'whsec-real' });
    expect(refused).toMatchObject({ status: 'error', errorCode: 'tls', details: { stage: 'request', url: `https://${CA_HOST}:${caPort}/hook` } });
    expect(refused.hint).toMatch(/tls\.caCertificate/);
    expect(received.length).toBe(before);
    const trusted = await test({ url: `https://${CA_HOST}:${caPort}/hook`, secret: 'whsec-real', tls: { caCertificate: ca.cert } });
    expect(trusted).toMatchObject({ status: 'warning', details: { statusCode: 204, tls: 'custom_ca' } });
    expect(trusted.checks).toContainEqual(
      expect.objectContaining({ name: 'tls', status: 'warning', message: expect.stringMatching(/trusted by the custom CA/) }),
    );
    const { rows } = await h.db.pool.query('SELECT config_summary, details FROM connection_test.test_runs WHERE id = $1', [trusted.id]);
    expect(JSON.stringify(rows)).not.toContain('BEGIN CERTIFICATE');
    expect(rows[0].config_summary).toMatchObject({ tls: { customCa: true, allowSelfSigned: false } });
  });

  it('a self-signed certificate: refused without tls.allowSelfSigned, before the signed POST is sent; a warning with it', async () => {
    const before = received.length;
    const refused = await test({ url: `https://${SELF_HOST}:${selfPort}/hook`, secret: 'whsec-real' });
    expect(refused).toMatchObject({ status: 'error', errorCode: 'tls' });
    expect(refused.hint).toMatch(/tls\.allowSelfSigned/);
    // With allowSelfSigned, the certificate must still name the host: judged before anything is written.
    const otherName = await test({ url: `https://127.0.0.1:${selfPort}/hook`, secret: 'whsec-real', tls: { allowSelfSigned: true } });
    expect(otherName).toMatchObject({ status: 'error', errorCode: 'tls' });
    expect(otherName.hint).toMatch(new RegExp(SELF_HOST.replace(/\./g, '\\.')));
    expect(received.length).toBe(before);
    const accepted = await test({ url: `https://${SELF_HOST}:${selfPort}/hook`, secret: 'whsec-real', tls: { allowSelfSigned: true } });
    expect(accepted).toMatchObject({ status: 'warning', details: { tls: 'self_signed', statusCode: 204 } });
  });

  it('a PEM that does not parse is a 422 naming the field', async () => {
    const pem = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    const r = await h.app.inject({
      method: 'POST',
      url: '/onboarding/test-connection/s1',
      headers: bearer(user),
      payload: { channel: 'webhook', config: { url: `https://${CA_HOST}:${caPort}/hook`, tls: { caCertificate: pem } } },
    });
    expect(r.statusCode).toBe(422);
    expect(r.json().details).toEqual([
      { field: 'config.tls.caCertificate', rule: 'pem_certificate', message: expect.stringMatching(/does not parse as an X\.509 certificate/) },
    ]);
    const notPem = await h.app.inject({
      method: 'POST',
      url: '/onboarding/test-connection/s1',
      headers: bearer(user),
      payload: { channel: 'webhook', config: { url: `https://${CA_HOST}:${caPort}/hook`, tls: { caCertificate: 'hello' } } },
    });
    expect(notPem.statusCode).toBe(422);
    expect(notPem.json().details[0]).toMatchObject({ field: 'config.tls.caCertificate', rule: 'format' });
  });
});
