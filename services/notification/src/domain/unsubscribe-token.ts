import { createHmac, timingSafeEqual } from 'node:crypto';

/** A signed, non-expiring token naming one recipient: what an unsubscribe link carries instead of a login. */
export function signUnsubscribeToken(secret: string, tenantId: string, userId: string): string {
  const payload = Buffer.from(JSON.stringify([tenantId, userId])).toString('base64url');
  return `${payload}.${mac(secret, payload)}`;
}

export function verifyUnsubscribeToken(secret: string, token: string): { tenantId: string; userId: string } | null {
  const [payload, sig, extra] = token.split('.');
  if (!payload || !sig || extra !== undefined) return null;
  const expected = Buffer.from(mac(secret, payload));
  const given = Buffer.from(sig);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string')
      return { tenantId: value[0], userId: value[1] };
  } catch {
    // not JSON: not ours
  }
  return null;
}

function mac(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(`unsubscribe:${payload}`).digest('base64url');
}

/** The link key when none is configured: derived from the JWT key, never equal to it. */
export function deriveUnsubscribeSecret(jwtSecret: string): string {
  return createHmac('sha256', jwtSecret).update('glavito-notification-unsubscribe-v1').digest('base64url');
}
