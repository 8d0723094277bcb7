import path from 'node:path';
import { ConfigError } from '@glavito/config';
import { TEST_JWT_SECRET } from '@glavito/testkit';
import { describe, expect, it } from 'vitest';
import { allowedOriginsOf, loadGatewayConfig, upstreamsOf } from '../src/config.js';

describe('config', () => {
  it('applies defaults and treats unset or empty service URLs as not deployed', () => {
    const config = loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET, SESSION_URL: 'http://session:3001/', PROGRESS_URL: '' });
    expect(config).toMatchObject({
      PORT: 3000,
      FRONTEND_URL: [],
      CORS_ORIGINS: [],
      RATE_LIMIT_MAX: 300,
      RATE_LIMIT_WINDOW: 60_000,
      BODY_LIMIT_BYTES: 1024 * 1024,
      UPSTREAM_TIMEOUT_MS: 30_000,
    });
    expect(config.CONSOLE_DIR).toBeUndefined();
    expect(upstreamsOf(config)).toEqual({ session: 'http://session:3001', progress: undefined, 'connection-test': undefined, realtime: undefined });
  });

  it('accepts several frontend origins and rejects bad values loudly', () => {
    expect(loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET, FRONTEND_URL: 'https://a.example.com/, http://localhost:5173' }).FRONTEND_URL).toEqual([
      'https://a.example.com',
      'http://localhost:5173',
    ]);
    expect(() => loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET, SESSION_URL: 'ftp://x' })).toThrow(ConfigError);
    expect(() => loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET, CORS_ORIGINS: '*' })).toThrow(/CORS_ORIGINS.*http\(s\) origin/);
    expect(() => loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET, FRONTEND_URL: 'app.example.com' })).toThrow(/FRONTEND_URL/);
    expect(() => loadGatewayConfig({})).toThrow(/JWT_SECRET/);
  });

  it('allows FRONTEND_URL and CORS_ORIGINS together, each origin once', () => {
    const config = loadGatewayConfig({
      JWT_SECRET: TEST_JWT_SECRET,
      FRONTEND_URL: 'https://app.example.com',
      CORS_ORIGINS: 'http://127.0.0.1:5173,https://app.example.com/',
    });
    expect(allowedOriginsOf(config)).toEqual(['https://app.example.com', 'http://127.0.0.1:5173']);
  });

  it('takes CONSOLE_DIR as an absolute path to an existing folder', () => {
    expect(loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET, CONSOLE_DIR: 'test' }).CONSOLE_DIR).toBe(path.resolve('test'));
    expect(loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET, CONSOLE_DIR: '' }).CONSOLE_DIR).toBeUndefined();
    expect(() => loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET, CONSOLE_DIR: 'no/such/folder' })).toThrow(/CONSOLE_DIR.*existing folder/);
    expect(() => loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET, CONSOLE_DIR: 'package.json' })).toThrow(/CONSOLE_DIR/);
  });
});
