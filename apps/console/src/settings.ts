const API_BASE_KEY = 'glavito.console.apiBase';
const TOKEN_KEY = 'glavito.console.token';

/** The gateway's origin; '' means the page's own origin (the console served by the gateway at /console). */
export function apiBase(): string {
  return localStorage.getItem(API_BASE_KEY) ?? '';
}

export function setApiBase(value: string): void {
  const v = value.trim().replace(/\/+$/, '');
  if (v) localStorage.setItem(API_BASE_KEY, v);
  else localStorage.removeItem(API_BASE_KEY);
}

/** Returns an error message, or null when the value is usable ('' or an http(s) origin). */
export function checkApiBase(value: string): string | null {
  const v = value.trim();
  if (!v) return null;
  try {
    const u = new URL(v);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'The gateway URL must start with http:// or https://';
    return null;
  } catch {
    return 'The gateway URL is not a URL (e.g. http://127.0.0.1:3000)';
  }
}

// The token lives for the tab only (sessionStorage): closing the tab signs out.
export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

export interface Claims {
  sub: string;
  tenantId: string;
  roles: string[];
  exp?: number;
}

/** Reads a JWT's claims for display and routing only: the gateway verifies the signature. */
export function decodeClaims(token: string): Claims | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const json = atob(
      part
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(part.length / 4) * 4, '='),
    );
    const claims = JSON.parse(json) as Partial<Claims>;
    if (typeof claims.sub !== 'string' || typeof claims.tenantId !== 'string') return null;
    return { sub: claims.sub, tenantId: claims.tenantId, roles: Array.isArray(claims.roles) ? claims.roles.map(String) : [], exp: claims.exp };
  } catch {
    return null;
  }
}

/**
 * `#token=<jwt>` (and optionally `&api=<gateway origin>`) signs in from a link, e.g. the one the start
 * command prints. The fragment never reaches a server; it is removed from the address bar at once.
 */
export function takeFragmentToken(): { token: string; api?: string } | null {
  const hash = location.hash.replace(/^#/, '');
  if (!hash.startsWith('token=')) return null;
  const params = new URLSearchParams(hash);
  const token = params.get('token');
  if (!token) return null;
  history.replaceState(null, '', `${location.pathname}${location.search}#/wizard`);
  const api = params.get('api') ?? undefined;
  return { token, api };
}
