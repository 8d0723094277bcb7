import { describe, expect, it } from 'vitest';
import { AUDIT_DECISIONS } from '../src/audit-decisions.js';
import { AUDIT_ACTIONS, AuditDetailsSchema, AuditEventSchema } from '../src/audit.js';
import { ROUTES } from '../src/routes.js';

describe('audit decisions', () => {
  it('every route of the catalog says whether it is audited, as what, or why not', () => {
    const missing = Object.keys(ROUTES).filter((name) => !(name in AUDIT_DECISIONS));
    expect(missing, `routes without an audit decision (add them to AUDIT_DECISIONS in audit-decisions.ts): ${missing.join(', ')}`).toEqual([]);
    const stale = Object.keys(AUDIT_DECISIONS).filter((name) => !(name in ROUTES));
    expect(stale, 'decisions for routes that no longer exist').toEqual([]);
    for (const [name, d] of Object.entries(AUDIT_DECISIONS)) {
      if (d.audited) {
        expect(d.actions.length, name).toBeGreaterThan(0);
        for (const a of d.actions) expect(AUDIT_ACTIONS, name).toContain(a);
      } else expect(d.why.length, `${name}: say why it is not audited`).toBeGreaterThan(10);
    }
  });

  it('every admin-only change is audited', () => {
    for (const [name, route] of Object.entries(ROUTES))
      if (route.access === 'admin' && route.method !== 'GET') expect(AUDIT_DECISIONS[name]?.audited, name).toBe(true);
  });
});

describe('audit event contract', () => {
  it('refuses details whose key names a credential, and oversized details', () => {
    expect(AuditDetailsSchema.safeParse({ fields: ['smtp.password'], channel: 'email' }).success).toBe(true);
    expect(AuditDetailsSchema.safeParse({ password: 'hunter2' }).success).toBe(false);
    expect(AuditDetailsSchema.safeParse({ apiKey: 'x' }).success).toBe(false);
    expect(AuditDetailsSchema.safeParse({ note: 'x'.repeat(257) }).success).toBe(false);
    expect(AuditDetailsSchema.safeParse(Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, i]))).success).toBe(false);
    expect(AuditDetailsSchema.safeParse({ nested: { a: 1 } }).success).toBe(false);
  });

  it('needs every field of a record', () => {
    const ev = {
      id: '0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b',
      type: 'audit.recorded',
      version: 1,
      occurredAt: '2026-12-04T10:00:00.000Z',
      tenantId: 't1',
      actor: { subject: 'u1', roles: ['admin'] },
      action: 'business_hours.update',
      target: { type: 'tenant', id: 't1' },
      outcome: { result: 'allowed', code: null },
      requestId: 'r',
      correlationId: 'c',
      clientIp: '203.0.113.1',
      userAgent: 'ua',
      details: {},
    };
    expect(AuditEventSchema.safeParse(ev).success).toBe(true);
    for (const k of ['actor', 'action', 'target', 'outcome', 'requestId', 'clientIp', 'userAgent', 'occurredAt', 'tenantId']) {
      const { [k]: _gone, ...rest } = ev as Record<string, unknown>;
      expect(AuditEventSchema.safeParse(rest).success, k).toBe(false);
    }
  });
});
