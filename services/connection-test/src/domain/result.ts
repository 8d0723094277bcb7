import type { ConnectionTestResultSchema } from '@glavito/contracts';
import type { z } from 'zod';

export type ConnectionErrorCode =
  | 'config_invalid'
  | 'dns'
  | 'network_unreachable'
  | 'timeout'
  | 'tls'
  | 'auth_invalid'
  | 'permission_missing'
  | 'rate_limited'
  | 'provider_unavailable'
  | 'blocked_by_policy';

export type ConnectionTestResult = z.infer<typeof ConnectionTestResultSchema>;
export type Check = ConnectionTestResult['checks'][number];

/** A failure a channel understood: it carries the taxonomy code and a hint a person can act on. */
export class ConnectionTestFailure extends Error {
  constructor(
    public readonly code: ConnectionErrorCode,
    message: string,
    public readonly hint?: string,
    public readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ConnectionTestFailure';
  }
}

const HINTS: Record<ConnectionErrorCode, string> = {
  config_invalid: 'Fix the fields listed in details and try again.',
  dns: 'Check the host name for typos and that its DNS record exists.',
  network_unreachable: 'Check the host and port, and that the server accepts connections from the internet.',
  timeout: 'The server did not answer in time. Check the host and port, or raise the timeout (up to 30 s).',
  tls: 'The TLS handshake failed. Check the certificate (expired, self-signed, wrong host name) or the secure/port setting.',
  auth_invalid: 'The credentials were rejected. Check them for typos, expiry or revocation.',
  permission_missing: 'The credentials work but lack a permission or scope this integration needs.',
  rate_limited: 'The provider is rate limiting these credentials. Wait a moment and try again.',
  provider_unavailable: 'The provider is having trouble right now. Try again shortly.',
  blocked_by_policy: 'Internal, loopback and cloud metadata addresses are blocked for safety. Use a public address.',
};

export function defaultHint(code: ConnectionErrorCode): string {
  return HINTS[code];
}

const TLS_CODES = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|EPROTO|HOSTNAME_MISMATCH|DEPTH_ZERO/i;

/** Maps a raw error (socket, TLS, HTTP status, SDK) onto the taxonomy. */
export function classifyError(err: unknown): ConnectionTestFailure {
  if (err instanceof ConnectionTestFailure) return err;
  const e = err as { code?: string; status?: number; statusCode?: number; name?: string; message?: string; cause?: unknown; responseCode?: number };
  const code = String(e?.code ?? (e?.cause as { code?: string } | undefined)?.code ?? '');
  const message = String(e?.message ?? err);
  const status = e?.status ?? e?.statusCode;
  if (
    e?.name === 'AbortError' ||
    e?.name === 'TimeoutError' ||
    /ETIMEDOUT|ESOCKETTIMEDOUT|UND_ERR_(CONNECT|HEADERS|BODY)_TIMEOUT/.test(code) ||
    /timed? ?out/i.test(message)
  )
    return new ConnectionTestFailure('timeout', 'The server did not answer in time', defaultHint('timeout'));
  if (/ENOTFOUND|EAI_AGAIN|ENODATA/.test(code)) return new ConnectionTestFailure('dns', 'The host name could not be resolved', defaultHint('dns'));
  if (/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ECONNRESET|EPIPE|UND_ERR_SOCKET/.test(code))
    return new ConnectionTestFailure('network_unreachable', `The connection failed (${code})`, defaultHint('network_unreachable'));
  if (TLS_CODES.test(code) || /certificate|handshake|ssl|tls/i.test(message))
    return new ConnectionTestFailure('tls', `TLS failed (${code || 'handshake'})`, defaultHint('tls'));
  if (status === 401) return new ConnectionTestFailure('auth_invalid', 'The provider rejected the credentials (401)', defaultHint('auth_invalid'));
  if (status === 403) return new ConnectionTestFailure('permission_missing', 'The provider refused the request (403)', defaultHint('permission_missing'));
  if (status === 429) return new ConnectionTestFailure('rate_limited', 'The provider is rate limiting (429)', defaultHint('rate_limited'));
  if (typeof status === 'number' && status >= 500)
    return new ConnectionTestFailure('provider_unavailable', `The provider answered ${status}`, defaultHint('provider_unavailable'));
  return new ConnectionTestFailure('provider_unavailable', 'The test failed unexpectedly', defaultHint('provider_unavailable'));
}
