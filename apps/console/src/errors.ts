import { GlavitoApiError, GlavitoNetworkError } from '@glavito/client';

/** One line a person can act on. */
export function describeError(err: unknown): string {
  if (err instanceof GlavitoApiError) {
    if (err.status === 401) return 'The gateway refused the token (expired, or signed with another secret). Sign in again.';
    if (err.status === 403) return `Not allowed for this role: ${err.message}`;
    return `${err.message} (${err.status} ${err.code})`;
  }
  if (err instanceof GlavitoNetworkError) {
    return 'The gateway did not answer: is it running, and does it allow this origin (FRONTEND_URL)?';
  }
  return err instanceof Error ? err.message : String(err);
}

export function isStatus(err: unknown, ...statuses: number[]): err is GlavitoApiError {
  return err instanceof GlavitoApiError && statuses.includes(err.status);
}
