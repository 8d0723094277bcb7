import { ConfigError } from '@glavito/config';
import { TEST_JWT_SECRET } from '@glavito/testkit';
import { describe, expect, it } from 'vitest';
import { loadGatewayConfig, upstreamsOf } from '../src/config.js';

describe('config', () => {
  it('applies defaults and treats unset or empty service URLs as not deployed', () => {
    const config = loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET, SESSION_URL: 'http://session:3001/', PROGRESS_URL: '' });
    expect(config).toMatchObject({
      PORT: 3000,
      FRONTEND_URL: ['http://localhost:3000'],
      RATE_LIMIT_MAX: 300,
      RATE_LIMIT_WINDOW: 60_000,
      BODY_LIMIT_BYTES: 1024 * 1024,
      UPSTREAM_TIMEOUT_MS: 30_000,
    });
    expect(upstreamsOf(config)).toEqual({ session: 'http://session:3001', progress: undefined, 'connection-test': undefined, realtime: undefined });
  });

  it('accepts several frontend origins and rejects bad values loudly', () => {
    expect(loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET, FRONTEND_URL: 'https://a.example.com/, http://localhost:5173' }).FRONTEND_URL).toEqual([
      'https://a.example.com',
      'http://localhost:5173',
    ]);
    expect(() => loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET, SESSION_URL: 'ftp://x' })).toThrow(ConfigError);
    expect(() => loadGatewayConfig({})).toThrow(/JWT_SECRET/);
  });
});
