import { lookup as dnsLookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { ConnectionTestFailure } from './result.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * Where user-supplied hosts may point. Only public unicast addresses, unless an operator allows a
 * CIDR (CONNECTION_TEST_ALLOWED_CIDRS). IPv4-mapped IPv6 is judged as the IPv4 address it carries.
 */
export interface OutboundPolicy {
  allowed: Array<[Address, number]>;
}

export function createOutboundPolicy(allowedCidrs: string[]): OutboundPolicy {
  return { allowed: allowedCidrs.map((c) => normalizeCidr(ipaddr.parseCIDR(c))) };
}

function normalize(addr: Address): Address {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address() : addr;
}

function normalizeCidr([addr, bits]: [Address, number]): [Address, number] {
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) return [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96];
  return [addr, bits];
}

/** Ranges that are never a customer's public server: loopback, private, link-local (cloud metadata), CGNAT, multicast… */
export function blockedRange(address: string): string | null {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  const addr = normalize(ipaddr.parse(address));
  const range = addr.range();
  if (addr.kind() === 'ipv4') return range === 'unicast' ? null : range;
  // IPv6: only global unicast (2000::/3) is public.
  if (range !== 'unicast') return range;
  return addr.match(ipaddr.parseCIDR('2000::/3')) ? null : 'not global unicast';
}

export function isAllowedByOperator(policy: OutboundPolicy, address: string): boolean {
  const addr = normalize(ipaddr.parse(address));
  return policy.allowed.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));
}

export function checkAddress(policy: OutboundPolicy, address: string): void {
  if (isAllowedByOperator(policy, address)) return;
  const range = blockedRange(address);
  if (range) {
    throw new ConnectionTestFailure(
      'blocked_by_policy',
      `Connections to ${address} are not allowed (${range} address)`,
      'Use the public address of your server. Internal, loopback and cloud metadata addresses are blocked for safety.',
    );
  }
}

export interface ResolvedTarget {
  hostname: string;
  /** The checked address: connect to this one, never resolve the name again. */
  address: string;
  family: 4 | 6;
}

export type Lookup = (hostname: string) => Promise<Array<{ address: string; family: number }>>;
const systemLookup: Lookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** Resolves a user-supplied host and refuses it when any of its addresses is blocked (no rebinding games). */
export async function resolveTarget(policy: OutboundPolicy, host: string, lookup: Lookup = systemLookup): Promise<ResolvedTarget> {
  const hostname = host.replace(/^\[|\]$/g, '');
  if (ipaddr.isValid(hostname)) {
    checkAddress(policy, hostname);
    return {
      hostname,
      address: normalize(ipaddr.parse(hostname)).toString(),
      family: ipaddr.parse(hostname).kind() === 'ipv6' && !(ipaddr.parse(hostname) as ipaddr.IPv6).isIPv4MappedAddress() ? 6 : 4,
    };
  }
  let addresses: Array<{ address: string; family: number }>;
  try {
    addresses = await lookup(hostname);
  } catch (err) {
    throw new ConnectionTestFailure(
      'dns',
      `Could not resolve ${hostname} (${(err as NodeJS.ErrnoException).code ?? 'DNS error'})`,
      'Check the host name for typos and that its DNS record exists.',
    );
  }
  if (addresses.length === 0) throw new ConnectionTestFailure('dns', `${hostname} has no address`, 'Check the DNS record of the host.');
  for (const a of addresses) checkAddress(policy, a.address);
  const first = addresses[0]!;
  return { hostname, address: normalize(ipaddr.parse(first.address)).toString(), family: first.family === 6 ? 6 : 4 };
}

type LookupCallback = (err: Error | null, address: string | Array<{ address: string; family: number }>, family?: number) => void;

/** A `lookup` for net/tls sockets that always answers the address that was checked. */
export function pinnedLookup(address: string, family: 4 | 6) {
  return (_hostname: string, options: { all?: boolean }, callback: LookupCallback): void => {
    if (options?.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}
