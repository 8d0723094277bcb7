import type { ErrorBody } from '@glavito/contracts';

/** The error shape of ARCHITECTURE §3, checked by hand: the contract's zod schema would bring zod into the browser bundle. */
function isErrorBody(body: unknown): body is ErrorBody {
  if (typeof body !== 'object' || body === null) return false;
  const b = body as Record<string, unknown>;
  return (
    Number.isInteger(b.statusCode) &&
    typeof b.code === 'string' &&
    typeof b.error === 'string' &&
    typeof b.message === 'string' &&
    (b.details === undefined || (Array.isArray(b.details) && b.details.every((d) => typeof d === 'object' && d !== null)))
  );
}

/** Base class of every error the SDK throws on purpose: `err instanceof GlavitoError`. */
export class GlavitoError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The API answered with a non-2xx status. `code` is the stable machine-readable code of ARCHITECTURE §3. */
export class GlavitoApiError extends GlavitoError {
  readonly status: number;
  readonly code: string;
  readonly details: ErrorBody['details'];
  /** The route that was called, e.g. `saveStep`. */
  readonly route: string;
  /** The gateway's `x-request-id`, worth quoting in a bug report. */
  readonly requestId: string | undefined;
  /** The parsed body (or its text when it was not JSON). */
  readonly body: unknown;

  constructor(init: { status: number; code: string; message: string; details?: ErrorBody['details']; route: string; requestId?: string; body: unknown }) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.details = init.details;
    this.route = init.route;
    this.requestId = init.requestId;
    this.body = init.body;
  }

  /** Builds the error from a response body; a body that is not our error shape still yields a usable error. */
  static fromBody(route: string, status: number, body: unknown, requestId?: string, statusText = ''): GlavitoApiError {
    if (isErrorBody(body)) {
      const { code, message, details } = body;
      return new GlavitoApiError({ status, code, message, details, route, requestId, body });
    }
    const text = typeof body === 'string' && body.length > 0 ? body.slice(0, 200) : statusText || 'Request failed';
    return new GlavitoApiError({ status, code: `HTTP_${status}`, message: text, route, requestId, body });
  }
}

/** No HTTP answer at all: DNS, refused connection, reset, CORS refusal, or the request timed out. */
export class GlavitoNetworkError extends GlavitoError {
  readonly route: string;
  readonly timedOut: boolean;

  constructor(route: string, cause: unknown, timedOut = false) {
    super(timedOut ? `${route}: the request timed out` : `${route}: network error (${(cause as Error)?.message ?? String(cause)})`, { cause });
    this.route = route;
    this.timedOut = timedOut;
  }
}

/** A 2xx answer that is not JSON, or (with `validateResponses`) does not match its contract. */
export class GlavitoResponseError extends GlavitoError {
  readonly route: string;
  readonly status: number;
  readonly body: unknown;

  constructor(route: string, status: number, message: string, body: unknown, cause?: unknown) {
    super(`${route}: ${message}`, { cause });
    this.route = route;
    this.status = status;
    this.body = body;
  }
}

/** A WebSocket request failed: an `error` frame answered it, it timed out, or the connection went away. */
export class GlavitoRealtimeError extends GlavitoError {
  /** The server's code (`session_not_found`, `upstream_unavailable`, …) or `timeout`, `connection_lost`, `closed`. */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}
