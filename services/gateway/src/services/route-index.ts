import { MAX_PARAM_LENGTH } from '@glavito/contracts';
import FindMyWay, { type HTTPMethod } from 'find-my-way';

/** The order methods are listed in (Allow, Access-Control-Allow-Methods), whatever order routes came in. */
const ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

export interface RouteIndex {
  /** Records that `method` answers on the URL pattern `url` (find-my-way syntax, as Fastify routes use). */
  add(method: string, url: string): void;
  /** The methods whose patterns match this request target (path, query ignored), in a stable order. */
  methodsFor(target: string): string[];
  /** Every method added, in a stable order. */
  allMethods(): string[];
}

/**
 * Whether a named path parameter of a match is empty (`/onboarding/resume/`): such a path has no route. A
 * wildcard (`*`, the console's client-side routes) may be empty.
 */
export const hasEmptyParam = (params: unknown): boolean =>
  params !== null && typeof params === 'object' && Object.entries(params as Record<string, unknown>).some(([name, v]) => v === '' && name !== '*');

/** A router match whose parameters all hold something. */
const matchesWithIds = (hit: { params: Record<string, string | undefined> } | null): boolean => hit !== null && !hasEmptyParam(hit.params);

const byOrder = (a: string, b: string) => {
  const [i, j] = [ORDER.indexOf(a), ORDER.indexOf(b)];
  return i === j ? a.localeCompare(b) : i === -1 ? 1 : j === -1 ? -1 : i - j;
};

/**
 * Which methods a path answers to, matched by the router Fastify itself uses (same settings: no trailing-slash
 * or duplicate-slash folding, MAX_PARAM_LENGTH-character params), so "this path exists with other methods" agrees with
 * what the gateway actually routes.
 */
export function createRouteIndex(): RouteIndex {
  // The gateway's own limit (Fastify's default is 100): a longer id matches here as it routes there.
  const router = FindMyWay({ maxParamLength: MAX_PARAM_LENGTH });
  const methods = new Set<string>();
  const noop = () => {};
  return {
    add(method, url) {
      const upper = method.toUpperCase();
      // The same pattern twice (a route added again, an explicit HEAD beside an exposed one) is one entry.
      if (router.hasRoute(upper as HTTPMethod, url)) return;
      router.on(upper as HTTPMethod, url, noop);
      methods.add(upper);
    },
    methodsFor(target) {
      return [...methods].filter((m) => matchesWithIds(router.find(m as HTTPMethod, target))).sort(byOrder);
    },
    allMethods() {
      return [...methods].sort(byOrder);
    },
  };
}
