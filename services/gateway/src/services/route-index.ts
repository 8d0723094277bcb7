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

const byOrder = (a: string, b: string) => {
  const [i, j] = [ORDER.indexOf(a), ORDER.indexOf(b)];
  return i === j ? a.localeCompare(b) : i === -1 ? 1 : j === -1 ? -1 : i - j;
};

/**
 * Which methods a path answers to, matched by the router Fastify itself uses (same defaults: no trailing-slash
 * or duplicate-slash folding, 100-character params), so "this path exists with other methods" agrees with
 * what the gateway actually routes.
 */
export function createRouteIndex(): RouteIndex {
  const router = FindMyWay();
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
      return [...methods].filter((m) => router.find(m as HTTPMethod, target) !== null).sort(byOrder);
    },
    allMethods() {
      return [...methods].sort(byOrder);
    },
  };
}
