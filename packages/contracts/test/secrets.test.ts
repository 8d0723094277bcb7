import { describe, expect, it } from 'vitest';
import { isSecretKey, MASK, maskSecrets } from '../src/secrets.js';

describe('maskSecrets', () => {
  it('masks nested credentials and keeps everything else', () => {
    const input = {
      email: { enabled: true, address: 'help@acme.example', username: 'help', password: 'hunter2', smtpPort: 587 },
      whatsapp: { enabled: true, phoneNumberId: '1234', accessToken: 'EAAG-token' },
      slack: { enabled: false, workspace: 'acme', botToken: 'xoxb-1', signingSecret: 'sig' },
      teams: { enabled: true, tenantId: 'tid', clientId: 'cid', clientSecret: 'shh' },
      ai: { aiProvider: 'openai', apiKey: 'sk-live', features: ['summarization'] },
      webhooks: [{ url: 'https://hooks.example', api_key: 'k1' }, { url: 'https://other.example' }],
    };
    expect(maskSecrets(input)).toEqual({
      email: { enabled: true, address: 'help@acme.example', username: 'help', password: MASK, smtpPort: 587 },
      whatsapp: { enabled: true, phoneNumberId: '1234', accessToken: MASK },
      slack: { enabled: false, workspace: 'acme', botToken: MASK, signingSecret: MASK },
      teams: { enabled: true, tenantId: 'tid', clientId: 'cid', clientSecret: MASK },
      ai: { aiProvider: 'openai', apiKey: MASK, features: ['summarization'] },
      webhooks: [{ url: 'https://hooks.example', api_key: MASK }, { url: 'https://other.example' }],
    });
  });

  it('uses an eight-star mask', () => {
    expect(MASK).toBe('********');
  });

  it('does not mutate its input', () => {
    const input = { channel: { password: 'p' } };
    const out = maskSecrets(input);
    expect(input).toEqual({ channel: { password: 'p' } });
    expect(out).not.toBe(input);
    expect(out.channel).not.toBe(input.channel);
  });

  it('leaves null, undefined and empty secrets as they are', () => {
    expect(maskSecrets({ password: null, apiKey: '', accessToken: undefined })).toEqual({ password: null, apiKey: '', accessToken: undefined });
  });

  it('masks a whole object or number held under a secret key', () => {
    expect(maskSecrets({ credentials: { user: 'u', pass: 'p' }, pin: 1234, privateKey: 42 })).toEqual({
      credentials: MASK,
      pin: 1234,
      privateKey: MASK,
    });
  });

  it('passes primitives and arrays of primitives through', () => {
    expect(maskSecrets('password')).toBe('password');
    expect(maskSecrets(null)).toBeNull();
    expect(maskSecrets(['a', 1])).toEqual(['a', 1]);
  });
});

describe('isSecretKey', () => {
  it.each([
    'password',
    'PASSWORD',
    'smtpPasswd',
    'apiKey',
    'api_key',
    'api-key',
    'accessToken',
    'refresh_token',
    'clientSecret',
    'botToken',
    'private_key',
    'sentryDsn',
    'connectionString',
    'credentials',
  ])('treats %s as secret', (key) => expect(isSecretKey(key)).toBe(true));

  it.each(['username', 'clientId', 'tenantId', 'address', 'phoneNumberId', 'workspace', 'key'])('treats %s as not secret', (key) =>
    expect(isSecretKey(key)).toBe(false),
  );
});
