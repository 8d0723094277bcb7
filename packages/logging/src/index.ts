import { pino, type Logger, type LoggerOptions } from 'pino';

/** Paths pino censors; request bodies are never logged, these cover headers and error payloads. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'authorization',
  'token',
  'password',
  'secret',
  '*.password',
  '*.token',
  '*.secret',
  '*.apiKey',
  '*.accessToken',
  '*.clientSecret',
  '*.botToken',
  '*.config',
  'config',
];

/**
 * Strips `token=` (WS auth) and other credential-like query parameters from a logged URL. `data=` is
 * step data (GET validate-step), which may hold credentials.
 */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|access_token|api_key|apikey|key|secret|password|data)=)[^&#]*/gi, '$1[REDACTED]');
}

export function loggerOptions(service: string, level: string): LoggerOptions {
  return {
    level,
    base: { service },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: {
      req(req: { method?: string; url?: string; id?: string; headers?: Record<string, unknown>; ip?: string }) {
        return {
          method: req.method,
          url: req.url ? redactUrl(req.url) : req.url,
          requestId: req.id,
          correlationId: req.headers?.['x-correlation-id'],
          remoteAddress: req.ip,
        };
      },
    },
  };
}

export function createLogger(service: string, level = 'info', destination?: pino.DestinationStream): Logger {
  return destination ? pino(loggerOptions(service, level), destination) : pino(loggerOptions(service, level));
}

export type { Logger };

/** Incoming x-request-id is kept when it looks sane, so one id follows a call across services. */
export function requestIdFrom(header: unknown, generate: () => string): string {
  return typeof header === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(header) ? header : generate();
}
