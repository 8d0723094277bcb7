/** Field names that hold credentials. Matched case-insensitively anywhere in a key. */
const SECRET_KEY = /(password|passwd|secret|token|api[-_]?key|private[-_]?key|credential|dsn|connectionstring)/i;

export const MASK = '********';

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** Deep copy with every credential-like field replaced by a mask (null/empty stay as they are). */
export function maskSecrets<T>(value: T): T {
  return walk(value, (key, v) => (isSecretKey(key) && v !== null && v !== undefined && v !== '' ? MASK : undefined)) as T;
}

/** Deep copy; `replace` returns a substitute for a key's value, or undefined to recurse normally. */
export function walk(value: unknown, replace: (key: string, v: unknown) => unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => walk(v, replace));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const sub = replace(k, v);
      out[k] = sub === undefined ? walk(v, replace) : sub;
    }
    return out;
  }
  return value;
}
