import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockedRange, checkAddress, createOutboundPolicy, resolveTarget } from '../src/domain/outbound-policy.js';
import { bearer, startHarness, type Harness } from './helpers.js';

/** A loopback HTTP server that counts every TCP connection it accepts. */
async function countingServer(host: string, handler: http.RequestListener) {
  const server = http.createServer(handler);
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as AddressInfo).port, connections: () => connections };
}

const BLOCKED_HOSTS = [
  '127.0.0.1',
  '[::1]',
  '10.1.2.3',
  '172.16.5.4',
  '172.31.255.1',
  '192.168.1.10',
  '169.254.169.254',
  '100.64.0.1',
  '0.0.0.0',
  '[::ffff:127.0.0.1]',
  '[fd00:ec2::254]',
  '224.0.0.1',
];

describe('outbound policy (pure)', () => {
  it.each(BLOCKED_HOSTS)('%s is blocked', async (host) => {
    await expect(resolveTarget(createOutboundPolicy([]), host)).rejects.toMatchObject({ code: 'blocked_by_policy' });
  });

  it('public unicast passes; IPv4-mapped addresses are judged as IPv4', () => {
    expect(blockedRange('93.184.216.34')).toBeNull();
    expect(blockedRange('2606:4700::1111')).toBeNull();
    expect(blockedRange('::ffff:10.0.0.1')).toBe('private');
    expect(() => checkAddress(createOutboundPolicy(['10.0.0.0/8']), '::ffff:10.0.0.1')).not.toThrow();
  });

  it('a name is refused when any of its addresses is blocked', async () => {
    const lookup = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '10.0.0.7', family: 4 },
    ];
    await expect(resolveTarget(createOutboundPolicy([]), 'mixed.example.test', lookup)).rejects.toMatchObject({ code: 'blocked_by_policy' });
  });
});

describe('SSRF matrix through the API (webhook)', () => {
  let h: Harness;
  let target: Awaited<ReturnType<typeof countingServer>>;
  let redirector: Awaited<ReturnType<typeof countingServer>>;
  const user = { userId: 'u-ssrf', tenantId: 't-ssrf' };

  beforeAll(async () => {
    target = await countingServer('127.0.0.1', (_req, res) => res.writeHead(200).end('{}'));
    // "Public-looking" host: 127.0.0.2 stands in for a public server (operator-allowed below) that redirects to loopback.
    redirector = await countingServer('127.0.0.2', (_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${target.port}/internal` }).end());
    h = await startHarness({
      env: { CONNECTION_TEST_ALLOWED_CIDRS: '127.0.0.2/32' },
      lookup: async (name) => {
        if (name === 'loopback.customer.test') return [{ address: '127.0.0.1', family: 4 }];
        if (name === 'public.customer.test') return [{ address: '127.0.0.2', family: 4 }];
        throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      },
    });
    h.addSession({ id: 's-ssrf', ...user });
  });
  afterAll(async () => {
    await h?.close();
    target?.server.close();
    redirector?.server.close();
  });

  const run = async (url: string) =>
    (
      await h.app.inject({ method: 'POST', url: '/onboarding/test-connection/s-ssrf', headers: bearer(user), payload: { channel: 'webhook', config: { url } } })
    ).json().result;

  it.each([...BLOCKED_HOSTS.map((host) => [`http://${host}:${0}/x`] as const), ['http://loopback.customer.test/x'] as const])(
    '%s → blocked_by_policy, nothing connects',
    async (url) => {
      const before = target.connections();
      const result = await run(url.replace(':0', `:${target.port}`));
      expect(result).toMatchObject({ status: 'error', errorCode: 'blocked_by_policy' });
      expect(result.hint).toMatch(/blocked for safety/);
      expect(target.connections()).toBe(before);
    },
  );

  it('a public-looking URL redirecting to loopback is never followed (the signed POST stays where it was sent)', async () => {
    const before = target.connections();
    const result = await run(`http://public.customer.test:${redirector.port}/hook`);
    expect(result).toMatchObject({ status: 'warning', details: { statusCode: expect.any(Number) } });
    expect(result.details.location).toMatch(/^http:\/\/127\.0\.0\.1/);
    expect(result.checks.map((c: { name: string; status: string }) => `${c.name}:${c.status}`)).toEqual([
      'config:success',
      'dns:success',
      'request:success',
      'response:warning',
    ]);
    expect(redirector.connections()).toBeGreaterThan(0);
    expect(target.connections()).toBe(before);
  });

  it('an operator-allowed CIDR is reachable', async () => {
    const allowed = await startHarness({ env: { CONNECTION_TEST_ALLOWED_CIDRS: '127.0.0.0/8,::1/128' } });
    allowed.addSession({ id: 's-allow', ...user });
    try {
      const r = await allowed.app.inject({
        method: 'POST',
        url: '/onboarding/test-connection/s-allow',
        headers: bearer(user),
        payload: { channel: 'webhook', config: { url: `http://127.0.0.1:${target.port}/ok` } },
      });
      expect(r.json().result).toMatchObject({ status: 'success' });
    } finally {
      await allowed.close();
    }
  });
});
