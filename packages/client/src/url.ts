/**
 * Substitutes `:name` segments of a route template with URL-encoded values. A value of `.` or `..` is
 * refused: URL parsers resolve such segments (even as `%2E`), which would send the call to another route.
 */
export function buildPath(template: string, params: Readonly<Record<string, unknown>> | undefined): string {
  return template.replace(/:([A-Za-z0-9_]+)/g, (_, key: string) => {
    const value = params?.[key];
    if (value === undefined || value === null || value === '') throw new TypeError(`missing path parameter "${key}" for ${template}`);
    const text = String(value);
    if (text === '.' || text === '..') throw new TypeError(`path parameter "${key}" may not be "${text}"`);
    return encodeURIComponent(text);
  });
}

/** `?a=1&b=x` from a flat object; undefined and null are left out, arrays repeat the key, dates go out as ISO strings. */
export function buildQuery(query: Readonly<Record<string, unknown>> | undefined | null): string {
  if (!query) return '';
  const search = new URLSearchParams();
  const add = (key: string, value: unknown) => {
    if (value === undefined || value === null) return;
    if (value instanceof Date) search.append(key, value.toISOString());
    else if (typeof value === 'object') search.append(key, JSON.stringify(value));
    else search.append(key, String(value));
  };
  for (const [key, value] of Object.entries(query)) {
    if (Array.isArray(value)) for (const item of value) add(key, item);
    else add(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Joins a base URL (which may carry a path prefix, with or without a trailing slash) and an absolute path. */
export function joinUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${path}`;
}
