import { z } from 'zod';
import { ROUTE_PATHS, type RoutePath } from './route-paths.js';

/**
 * What a service publishes about its own routes (GET ROUTE_MANIFEST_PATH on the service), so the gateway routes
 * a route a newer build of the service added without being redeployed itself. Versioned and validated: the
 * gateway exposes only entries that pass, and an entry without an access rule never passes.
 */
export const ROUTE_MANIFEST_PATH = '/routes/manifest';

export const RouteManifestEntrySchema = z
  .object({
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
    url: z
      .string()
      .max(256)
      .regex(/^\/onboarding\/[A-Za-z0-9_\-/:.]+$/, 'must be a path under /onboarding/'),
    /** Required: the gateway checks the JWT (and the admin role) at the edge for every route it exposes. */
    access: z.enum(['user', 'admin', 'public']),
    streamed: z.boolean().optional(),
  })
  .strict();
export type RouteManifestEntry = z.infer<typeof RouteManifestEntrySchema>;

export const RouteManifestSchema = z.object({
  manifestVersion: z.literal(1),
  service: z.string().regex(/^[a-z][a-z0-9-]{0,40}$/),
  /** Checked one by one: a bad entry is refused alone, the others stay routable. */
  routes: z.array(z.unknown()).max(500),
});

/** This build's manifest of one service: its entries of the route catalog. */
export function routeManifest(service: string) {
  const routes = (Object.values(ROUTE_PATHS) as RoutePath[])
    .filter((r) => r.service === service)
    .map((r) => ({ method: r.method, url: r.url, access: r.access, ...(r.streamed ? { streamed: true } : {}) }));
  return { manifestVersion: 1 as const, service, routes };
}

export interface ReadManifest {
  service: string;
  routes: RouteManifestEntry[];
  /** Entries not exposed, with the reason (e.g. `access: Invalid option…` for a route without an access rule). */
  refused: Array<{ entry: unknown; reason: string }>;
}

/** Validates a manifest as the gateway reads it; throws a ZodError when the manifest itself is not one. */
export function readRouteManifest(raw: unknown): ReadManifest {
  const m = RouteManifestSchema.parse(raw);
  const routes: RouteManifestEntry[] = [];
  const refused: ReadManifest['refused'] = [];
  for (const entry of m.routes) {
    const r = RouteManifestEntrySchema.safeParse(entry);
    if (r.success) routes.push(r.data);
    else refused.push({ entry, reason: r.error.issues.map((i) => `${i.path.join('.') || 'entry'}: ${i.message}`).join('; ') });
  }
  return { service: m.service, routes, refused };
}
