import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { isSecretKey, MASK, walk } from '@glavito/contracts';

const SEALED = '$sealed';
type Sealed = { [SEALED]: string };

const isSealed = (v: unknown): v is Sealed => v !== null && typeof v === 'object' && typeof (v as Sealed)[SEALED] === 'string';

/**
 * AES-256-GCM for credential fields in step data. Values are sealed as `{ "$sealed": "v1.<iv>.<tag>.<data>" }`
 * so the plain text never reaches a column, a log or an event.
 */
export function createSecretBox(keyBase64: string) {
  const key = Buffer.from(keyBase64, 'base64');
  if (key.length !== 32) throw new Error('STEP_DATA_ENCRYPTION_KEY must be 32 bytes');

  function sealValue(value: unknown): Sealed {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return { [SEALED]: ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join('.') };
  }

  function openValue(sealed: Sealed): unknown {
    const [version, iv, tag, data] = sealed[SEALED].split('.');
    if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('unknown sealed value format');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return JSON.parse(Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8'));
  }

  return {
    /** Encrypts every credential-like field (by key name), at any depth. */
    seal<T>(data: T): T {
      return walk(data, (k, v) => (isSecretKey(k) && v !== null && v !== undefined && v !== '' && !isSealed(v) ? sealValue(v) : undefined)) as T;
    },
    /** Decrypts sealed fields (for code that must use a credential, never for responses). */
    open<T>(data: T): T {
      return walk(data, (_k, v) => (isSealed(v) ? openValue(v) : undefined)) as T;
    },
  };
}
export type SecretBox = ReturnType<typeof createSecretBox>;

/** What a response shows: sealed values and any credential-like field become a mask. */
export function maskStepData<T>(data: T): T {
  return walk(data, (k, v) => (isSealed(v) || (isSecretKey(k) && v !== null && v !== undefined && v !== '') ? MASK : undefined)) as T;
}
