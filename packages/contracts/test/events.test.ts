import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, eventSubject, parseEvent, sessionSubjectFilter } from '../src/events.js';
import { computeProgress } from '../src/progress.js';

const progress = computeProgress('tenant_setup', { completedSteps: ['welcome'], skippedSteps: [], currentStep: 'organization_setup' });

const makeEnvelope = (overrides: Record<string, unknown> = {}) => ({
  id: randomUUID(),
  type: 'session.paused',
  version: 1,
  occurredAt: '2026-06-01T10:00:00.000Z',
  tenantId: 'tenant_1',
  sessionId: 'sess-42',
  userId: 'user_7',
  sessionSeq: 3,
  correlationId: 'req-1',
  data: {
    sessionType: 'tenant_setup',
    completedSteps: ['welcome'],
    skippedSteps: [],
    currentStep: 'organization_setup',
    status: 'paused',
    progress,
  },
  ...overrides,
});

describe('parseEvent', () => {
  it('returns a valid envelope unchanged', () => {
    const env = makeEnvelope();
    expect(parseEvent(env)).toEqual(env);
  });

  it('accepts an offset timestamp and strips unknown keys', () => {
    const env = makeEnvelope({ occurredAt: '2026-06-01T12:00:00+02:00', extra: 'x' });
    const parsed = parseEvent({ ...env, data: { ...env.data, note: 'dropped' } });
    expect(parsed).not.toHaveProperty('extra');
    expect(parsed.data).not.toHaveProperty('note');
    expect(parsed.occurredAt).toBe('2026-06-01T12:00:00+02:00');
  });

  it('checks the data against the schema of its type', () => {
    const env = makeEnvelope();
    expect(() => parseEvent({ ...env, data: { ...env.data, status: 'sleeping' } })).toThrow();
    expect(() => parseEvent({ ...env, type: 'progress.updated' })).toThrow();
    expect(parseEvent({ ...env, type: 'progress.updated', data: { progress, estimatedCompletion: null, trigger: 'step.completed' } }).type).toBe(
      'progress.updated',
    );
  });

  it.each([
    ['an unknown type', { type: 'session.exploded' }],
    ['another version', { version: 2 }],
    ['a non-uuid id', { id: 'evt-1' }],
    ['a tenant id with a dot', { tenantId: 'acme.corp' }],
    ['a session id with a wildcard', { sessionId: 's*' }],
    ['a user id with a space', { userId: 'a b' }],
    ['a sessionSeq of 0', { sessionSeq: 0 }],
    ['a timestamp without offset', { occurredAt: '2026-06-01 10:00' }],
    ['a correlation id over 128 characters', { correlationId: 'c'.repeat(129) }],
    ['data that is not an object', { data: 'x' }],
  ])('rejects %s', (_what, overrides) => {
    expect(() => parseEvent(makeEnvelope(overrides))).toThrow();
  });

  it('rejects something that is not an envelope', () => {
    expect(() => parseEvent(null)).toThrow();
    expect(() => parseEvent('session.paused')).toThrow();
  });

  it('knows every event type once', () => {
    expect(new Set(EVENT_TYPES).size).toBe(EVENT_TYPES.length);
    expect(EVENT_TYPES).toEqual(expect.arrayContaining(['session.started', 'step.completed', 'progress.updated', 'connection.tested', 'flow.published']));
  });
});

describe('subjects', () => {
  it('builds <prefix>.<tenant>.<session>.<type>', () => {
    expect(eventSubject('glavito.events', { tenantId: 'tenant_1', sessionId: 'sess-42', type: 'step.completed' })).toBe(
      'glavito.events.tenant_1.sess-42.step.completed',
    );
  });

  it('filters one session with a trailing full wildcard', () => {
    expect(sessionSubjectFilter('glavito.events', 'tenant_1', 'sess-42')).toBe('glavito.events.tenant_1.sess-42.>');
  });

  it('every event subject of a session matches its filter', () => {
    const filter = sessionSubjectFilter('p', 't', 's').split('.');
    for (const type of EVENT_TYPES) {
      const tokens = eventSubject('p', { tenantId: 't', sessionId: 's', type }).split('.');
      expect(tokens.slice(0, 3)).toEqual(filter.slice(0, 3));
      expect(tokens.length).toBeGreaterThan(3);
    }
  });
});
