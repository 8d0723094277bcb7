import { X509Certificate } from 'node:crypto';
import tls, { type PeerCertificate, type TLSSocket } from 'node:tls';
import type { FieldError, TlsTrust } from '@glavito/contracts';
import { ConnectionTestFailure } from './result.js';

/**
 * Per-test TLS trust (`tls: { caCertificate?, allowSelfSigned? }`): what to hand to tls.connect, and
 * how a finished handshake is judged before any credential is sent. A connection that needed the
 * custom CA or the self-signed exception is reported (a warning), never silently trusted.
 */

export type TrustVerdict = 'public' | 'custom_ca' | 'self_signed' | 'unverified';

export interface Trust {
  cas: X509Certificate[];
  caPems: string[];
  allowSelfSigned: boolean;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Field errors for a `tls` object at `field` (each PEM must parse as an X.509 certificate). */
export function trustErrors(trust: TlsTrust | undefined, field: string): FieldError[] {
  if (!trust?.caCertificate) return [];
  const blocks = trust.caCertificate.match(PEM_BLOCK) ?? [];
  for (const [i, pem] of blocks.entries()) {
    try {
      new X509Certificate(pem);
    } catch {
      const which = blocks.length > 1 ? ` (certificate ${i + 1} of ${blocks.length})` : '';
      return [{ field: `${field}.caCertificate`, rule: 'pem_certificate', message: `${field}.caCertificate does not parse as an X.509 certificate${which}` }];
    }
  }
  return blocks.length === 0 ? [{ field: `${field}.caCertificate`, rule: 'pem_certificate', message: `${field}.caCertificate holds no PEM certificate` }] : [];
}

export function parseTrust(trust: TlsTrust | undefined): Trust {
  const caPems = trust?.caCertificate?.match(PEM_BLOCK) ?? [];
  return { caPems, cas: caPems.map((p) => new X509Certificate(p)), allowSelfSigned: trust?.allowSelfSigned === true };
}

/**
 * Options for tls.connect. A custom CA is added to the public roots (Node's `ca` replaces them). With
 * allowSelfSigned the handshake is let through and judged by `judge` before the credentials go out.
 */
export function tlsOptions(trust: Trust): { ca?: string[]; rejectUnauthorized: boolean } {
  return { ...(trust.caPems.length > 0 ? { ca: [...tls.rootCertificates, ...trust.caPems] } : {}), rejectUnauthorized: !trust.allowSelfSigned };
}

/** Whether a custom CA issued any certificate of the chain the server sent. */
function issuedByCustomCa(socket: TLSSocket, trust: Trust): boolean {
  if (trust.cas.length === 0) return false;
  let cert: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    const x = new X509Certificate(cert.raw);
    if (trust.cas.some((ca) => ca.fingerprint256 === x.fingerprint256 || (x.checkIssued(ca) && x.verify(ca.publicKey)))) return true;
    cert = cert.issuerCertificate;
  }
  return false;
}

/** Names a certificate is valid for, to say which host name to use. */
export function certificateNames(cert: { subjectaltname?: string; subject?: { CN?: string | string[] } } | undefined): string[] {
  const sans = (cert?.subjectaltname ?? '')
    .split(',')
    .map((s) => s.trim().replace(/^(DNS|IP Address):/, ''))
    .filter(Boolean);
  const cn = cert?.subject?.CN;
  return sans.length > 0 ? sans : cn ? [cn].flat() : [];
}

/**
 * Judges a finished handshake. `hostname`: the name the certificate must carry (null: not checked, as
 * sslmode=verify-ca). Throws a tls failure whose hint names the option that would help.
 */
export function judge(socket: TLSSocket, trust: Trust, hostname: string | null, protocol: string): TrustVerdict {
  if (socket.authorized) return issuedByCustomCa(socket, trust) ? 'custom_ca' : 'public';
  const code = String(socket.authorizationError ?? '');
  const peer = socket.getPeerCertificate();
  if (trust.allowSelfSigned && code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    const mismatch = hostname ? tls.checkServerIdentity(hostname, peer) : undefined;
    if (!mismatch) return 'self_signed';
    const names = certificateNames(peer);
    throw new ConnectionTestFailure(
      'tls',
      `${protocol}: the self-signed certificate is not valid for ${hostname}${names.length ? ` (it names ${names.join(', ')})` : ''}`,
      `tls.allowSelfSigned accepts a self-signed certificate only for the host it names: connect with ${names[0] ?? 'the name it was issued for'} as the host.`,
      { stage: 'tls' },
    );
  }
  throw certificateFailure(protocol, code, hostname ?? '', peer, trust);
}

/** A refused certificate, with a hint that says which option (or which host name) would make it pass. */
export function certificateFailure(protocol: string, code: string, host: string, cert: PeerCertificate | undefined, trust: Trust): ConnectionTestFailure {
  const names = certificateNames(cert);
  let reason: string;
  let hint: string;
  if (code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    reason = 'the certificate is self-signed';
    hint =
      'If you trust this server, set tls.allowSelfSigned: true (the test then passes with a warning); better, install a certificate from a public authority.';
  } else if (code === 'SELF_SIGNED_CERT_IN_CHAIN' || /UNABLE_TO_(GET_ISSUER|VERIFY_LEAF)/.test(code)) {
    reason = 'the certificate comes from an authority we do not know';
    hint =
      trust.cas.length > 0
        ? 'The CA in tls.caCertificate did not issue this certificate: give the PEM of the CA that did (the root, or the intermediate the server does not send).'
        : "If your own (private) CA issued it, give that CA's certificate (PEM) in tls.caCertificate; if a public CA did, install the full chain (with intermediates) on the server.";
  } else if (code === 'CERT_HAS_EXPIRED') {
    reason = 'the certificate has expired';
    hint = "Renew the server's certificate.";
  } else if (code === 'CERT_NOT_YET_VALID') {
    reason = 'the certificate is not valid yet';
    hint = "Check the server's certificate dates and the server's clock.";
  } else if (/ALTNAME|HOSTNAME_MISMATCH/.test(code)) {
    reason = `the certificate is not valid for ${host}`;
    hint =
      names.length > 0
        ? `The certificate names ${names.slice(0, 5).join(', ')}: use one of these as the host.`
        : 'Use the host name the certificate was issued for.';
  } else {
    reason = code || 'handshake failed';
    hint = "The TLS handshake failed. Check the server's certificate and TLS settings.";
  }
  return new ConnectionTestFailure('tls', `${protocol}: TLS failed (${reason}${code && !reason.includes(code) ? `, ${code}` : ''})`, hint, { stage: 'tls' });
}

/** The check message and warning text for a connection that relied on the per-test trust. */
export function verdictWarning(verdict: TrustVerdict, protocol: string): string | null {
  if (verdict === 'custom_ca') return `${protocol}: the certificate was trusted by the custom CA (tls.caCertificate), not by a public authority.`;
  if (verdict === 'self_signed') return `${protocol}: a self-signed certificate was accepted (tls.allowSelfSigned).`;
  return null;
}
