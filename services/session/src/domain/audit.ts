import { isSecretKey, type AuditAction } from '@glavito/contracts';
import type { AuditInput } from '@glavito/bus';
import type { SessionRecord, Transition } from './session-rules.js';

/** Who asked for a change and from where (the request's audit context); jobs act as `system`. */
export interface AuditOrigin {
  actor: { subject: string; roles: string[] };
  requestId: string | null;
  correlationId: string | null;
  clientIp: string | null;
  userAgent: string | null;
}

export const SYSTEM_ORIGIN: AuditOrigin = { actor: { subject: 'system', roles: [] }, requestId: null, correlationId: null, clientIp: null, userAgent: null };

/** Paths of credential fields (`smtp.password`, `apiKey`) with a non-empty value anywhere in step data. */
function credentialPaths(value: unknown, path: string[] = [], out = new Map<string, unknown>()): Map<string, unknown> {
  if (Array.isArray(value)) value.forEach((v, i) => credentialPaths(v, [...path, String(i)], out));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      // A credential (sealed when stored: `{ $sealed }`) is one leaf, whatever its shape.
      if (isSecretKey(k) && v !== null && v !== undefined && v !== '') {
        out.set([...path, k].join('.'), v);
      } else credentialPaths(v, [...path, k], out);
    }
  }
  return out;
}

/**
 * Which credential fields a step save adds, changes or removes, by name: step data is stored sealed, so an unchanged
 * credential (sent back as the mask) keeps the very same sealed value, and any other value is a replacement.
 */
export function credentialChanges(before: unknown, after: unknown): { added: string[]; changed: string[]; removed: string[] } {
  const b = credentialPaths(before);
  const a = credentialPaths(after);
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  return {
    added: [...a.keys()].filter((k) => !b.has(k)).sort(),
    changed: [...a.keys()].filter((k) => b.has(k) && !same(a.get(k), b.get(k))).sort(),
    removed: [...b.keys()].filter((k) => !a.has(k)).sort(),
  };
}

const STATUS_ACTIONS: Partial<Record<string, AuditAction>> = {
  'session.started': 'session.start',
  'session.paused': 'session.pause',
  'session.resumed': 'session.resume',
  'session.abandoned': 'session.abandon',
};

/**
 * The audit records a transition causes, written in the statement that applies it: status changes of the session,
 * its completion (forced or not, and the tenant's setup with it), and credential fields a step save adds, changes or
 * removes (names only). Everything else a transition does is not security relevant (see AUDIT_DECISIONS).
 */
export function auditOfTransition(before: SessionRecord, t: Transition, origin: AuditOrigin = SYSTEM_ORIGIN): AuditInput[] {
  const base = { ...origin, tenantId: before.tenantId, outcome: { result: 'allowed' as const, code: null } };
  const session = { type: 'session', id: before.id };
  const out: AuditInput[] = [];
  for (const e of t.events) {
    const action = STATUS_ACTIONS[e.type];
    if (action) out.push({ ...base, action, target: session, details: { sessionType: before.type, owner: before.userId } });
    if (e.type === 'session.completed') {
      const forced = (e.data as { forced?: boolean }).forced === true;
      out.push({
        ...base,
        action: forced ? 'session.force_complete' : 'session.complete',
        target: session,
        details: { sessionType: before.type, owner: before.userId, forced },
      });
    }
  }
  if (t.markTenantSetupCompleted)
    out.push({ ...base, action: 'tenant_setup.complete', target: { type: 'tenant', id: before.tenantId }, details: { sessionId: before.id } });
  if (t.stepWrite) {
    const c = credentialChanges(before.stepData[t.stepWrite.stepId], t.stepWrite.value);
    if (c.added.length + c.changed.length + c.removed.length > 0) {
      out.push({
        ...base,
        action: 'step.credentials_change',
        target: session,
        details: { stepId: t.stepWrite.stepId, added: c.added, changed: c.changed, removed: c.removed },
      });
    }
  }
  return out;
}
