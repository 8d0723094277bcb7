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

/** Log lines are written to stdout in chunks of about this many bytes, or after FLUSH_MS at the latest. */
const CHUNK_BYTES = 4096;
const FLUSH_MS = 1000;
let stdout: pino.DestinationStream | undefined;

/**
 * Standard output, buffered: one write system call per ~4 KB of lines instead of one per line (on this
 * VM a write is the larger part of a request line's cost). Lines reach stdout within a second, warnings and
 * errors at once; whatever is buffered is written synchronously when the process exits (a SIGKILL loses at
 * most that second).
 */
export function bufferedStdout(): pino.DestinationStream {
  if (stdout) return stdout;
  const dest = pino.destination({ dest: 1, sync: false, minLength: CHUNK_BYTES });
  setInterval(() => dest.flush(), FLUSH_MS).unref();
  process.on('exit', () => {
    try {
      dest.flushSync();
    } catch {
      // stdout already closed: nothing left to write to
    }
  });
  // Warnings and errors go out at once (an operator or a test watching for them should not wait for the timer).
  stdout = {
    write(line: string) {
      dest.write(line);
      if (line.startsWith('{"level":4') || line.startsWith('{"level":5') || line.startsWith('{"level":6')) dest.flush();
    },
  };
  return stdout;
}

/** Pino options, plus the buffered stdout (`stream`, which Fastify's `logger` option takes as the destination). */
export function loggerOptions(service: string, level: string): LoggerOptions & { stream: pino.DestinationStream } {
  return {
    stream: bufferedStdout(),
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
  const { stream, ...options } = loggerOptions(service, level);
  return pino(options, destination ?? stream);
}

export type { Logger };

/** Incoming x-request-id is kept when it looks sane, so one id follows a call across services. */
export function requestIdFrom(header: unknown, generate: () => string): string {
  return typeof header === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(header) ? header : generate();
}
