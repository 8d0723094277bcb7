import { isSecretKey, MASK, type FieldError } from '@glavito/contracts';

/**
 * A form filled from a session shows stored credentials as the mask; sending the mask back means "keep the
 * stored one". Each masked credential is replaced by the (sealed) value stored at the same path; a mask with
 * nothing stored there is refused, so "********" never becomes somebody's password.
 */
export function restoreMaskedSecrets(
  data: Record<string, unknown>,
  stored: Record<string, unknown> | undefined,
): { data: Record<string, unknown>; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const visit = (value: unknown, before: unknown, path: string[]): unknown => {
    if (Array.isArray(value)) return value.map((v, i) => visit(v, Array.isArray(before) ? before[i] : undefined, [...path, String(i)]));
    if (value === null || typeof value !== 'object') return value;
    const old = before !== null && typeof before === 'object' && !Array.isArray(before) ? (before as Record<string, unknown>) : undefined;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const here = [...path, k];
      if (isSecretKey(k) && v === MASK) {
        const kept = old?.[k];
        if (kept === undefined || kept === null || kept === '') {
          const field = here.join('.');
          errors.push({
            field,
            rule: 'masked_secret',
            message: `${field} is the mask of a stored credential, but none is stored here: send the credential itself`,
          });
        }
        out[k] = kept;
      } else {
        out[k] = visit(v, old?.[k], here);
      }
    }
    return out;
  };
  return { data: visit(data, stored, []) as Record<string, unknown>, errors };
}
