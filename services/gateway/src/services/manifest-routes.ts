import { MAX_PARAM_LENGTH, readRouteManifest, ROUTE_MANIFEST_PATH, type RouteManifestEntry, type ServiceName } from '@glavito/contracts';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { hasEmptyParam } from './route-index.js';

export interface ManifestRoute extends RouteManifestEntry {
  service: ServiceName;
}

export interface ManifestRoutes {
  /** Fetches every upstream's manifest; a service that does not answer keeps its last good manifest. */
  refresh(): Promise<void>;
  /** Refreshes when the last refresh is older than `maxAgeMs` (one fetch at a time, shared by concurrent callers). */
  ensureFresh(maxAgeMs: number): Promise<void>;
  /** A route a service published that this gateway's own catalog does not have, or null. */
  find(method: string, target: string): ManifestRoute | null;
  /** The methods published routes answer to on this target (for 405 answers). */
  methodsFor(target: string): string[];
  /** Entries refused at the last refresh (no access rule, bad URL…), per service. */
  refused(): Record<string, Array<{ entry: unknown; reason: string }>>;
}

export interface ManifestRoutesOptions {
  upstreams: Partial<Record<ServiceName, string | undefined>>;
  /** `METHOD url` of the routes compiled into this gateway: served by their own routes, never from a manifest. */
  known: ReadonlySet<string>;
  timeoutMs: number;
  log: { warn(obj: object, msg: string): void };
}

/**
 * Routes services add without a gateway release: each service publishes the routes of its own build at
 * ROUTE_MANIFEST_PATH (versioned, validated entry by entry); a route with no access rule, or one that is not
 * under /onboarding/, is refused. The gateway still checks the JWT and the role of every such route itself.
 * Read when a request matches none of the gateway's own routes, at most once per refresh interval, so the
 * usual request never waits for it.
 */
export function createManifestRoutes(opts: ManifestRoutesOptions): ManifestRoutes {
  const published = new Map<ServiceName, { routes: ManifestRoute[]; refused: Array<{ entry: unknown; reason: string }> }>();
  let router = FindMyWay<FindMyWay.HTTPVersion.V1>({ maxParamLength: MAX_PARAM_LENGTH });
  const build = () => {
    const next = FindMyWay<FindMyWay.HTTPVersion.V1>({ maxParamLength: MAX_PARAM_LENGTH });
    for (const { routes } of published.values()) {
      for (const route of routes) {
        if (opts.known.has(`${route.method} ${route.url}`) || next.hasRoute(route.method as HTTPMethod, route.url)) continue;
        next.on(route.method as HTTPMethod, route.url, () => {}, route);
      }
    }
    router = next;
  };
  let refreshedAt = 0;
  let inFlight: Promise<void> | null = null;
  const api: ManifestRoutes = {
    ensureFresh(maxAgeMs) {
      if (Date.now() - refreshedAt < maxAgeMs) return Promise.resolve();
      inFlight ??= api.refresh().finally(() => {
        refreshedAt = Date.now();
        inFlight = null;
      });
      return inFlight;
    },
    async refresh() {
      await Promise.all(
        (Object.entries(opts.upstreams) as Array<[ServiceName, string | undefined]>).map(async ([service, base]) => {
          if (!base) return;
          try {
            const res = await fetch(new URL(ROUTE_MANIFEST_PATH, base), { signal: AbortSignal.timeout(opts.timeoutMs) });
            // A service of a release before manifests: its routes are the catalog's.
            if (res.status === 404) return void (await res.body?.cancel());
            const manifest = readRouteManifest(await res.json());
            if (manifest.service !== service) throw new Error(`the manifest at ${base} is ${manifest.service}'s`);
            if (manifest.refused.length > 0) opts.log.warn({ service, refused: manifest.refused }, 'gateway: published routes refused');
            published.set(service, { routes: manifest.routes.map((r) => ({ ...r, service })), refused: manifest.refused });
          } catch (err) {
            opts.log.warn({ service, err: (err as Error).message }, 'gateway: route manifest unavailable; keeping the last one');
          }
        }),
      );
      build();
    },
    find(method, target) {
      const hit = router.find(method as HTTPMethod, target.split('?')[0]!);
      return hit && !hasEmptyParam(hit.params) ? (hit.store as ManifestRoute) : null;
    },
    methodsFor(target) {
      const path = target.split('?')[0]!;
      return ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((m) => {
        const hit = router.find(m as HTTPMethod, path);
        return hit !== null && !hasEmptyParam(hit.params);
      });
    },
    refused() {
      return Object.fromEntries([...published].map(([s, p]) => [s, p.refused]));
    },
  };
  return api;
}
