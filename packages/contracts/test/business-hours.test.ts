import { describe, expect, it } from 'vitest';
import { BusinessHoursConfigSchema, ClockTimeSchema, isValidTimeZone, minutesOfClock } from '../src/business-hours.js';
import { issuesToFieldErrors } from '../src/validation.js';

const makeDay = (overrides: Record<string, unknown> = {}) => ({ enabled: true, start: '09:00', end: '17:00', ...overrides });
const makeConfig = (monday: unknown, overrides: Record<string, unknown> = {}) => ({ timezone: 'Europe/Berlin', schedule: { monday }, ...overrides });

/** The field errors an API client would see, or null when the config is valid. */
function errorsOf(input: unknown) {
  const r = BusinessHoursConfigSchema.safeParse(input);
  return r.success ? null : issuesToFieldErrors(r.error.issues, input);
}

describe('BusinessHoursConfigSchema', () => {
  it('accepts a day with breaks and defaults holidays to []', () => {
    const input = makeConfig(
      makeDay({
        breaks: [
          { start: '12:00', end: '13:00', name: 'Lunch' },
          { start: '15:00', end: '15:15' },
        ],
      }),
    );
    expect(BusinessHoursConfigSchema.parse(input)).toEqual({ ...input, holidays: [] });
  });

  it('accepts back-to-back breaks and breaks touching the day edges', () => {
    expect(
      errorsOf(
        makeConfig(
          makeDay({
            breaks: [
              { start: '09:00', end: '10:00' },
              { start: '10:00', end: '11:00' },
              { start: '16:00', end: '17:00' },
            ],
          }),
        ),
      ),
    ).toBeNull();
  });

  it('allows 24:00 as an end of day', () => {
    expect(errorsOf(makeConfig(makeDay({ start: '00:00', end: '24:00', breaks: [{ start: '23:00', end: '24:00' }] })))).toBeNull();
  });

  it.each(['24:01', '25:00', '9:00', '12:60', '1200'])('rejects clock time %s', (t) => {
    expect(ClockTimeSchema.safeParse(t).success).toBe(false);
  });

  it('converts clock times to minutes', () => {
    expect(minutesOfClock('00:00')).toBe(0);
    expect(minutesOfClock('09:30')).toBe(570);
    expect(minutesOfClock('24:00')).toBe(1440);
  });

  it.each([
    ['equal to', '09:00'],
    ['before', '08:00'],
  ])('rejects an end %s the start', (_what, end) => {
    expect(errorsOf(makeConfig(makeDay({ end })))).toEqual([
      { field: 'schedule.monday.end', rule: 'after_start', message: 'schedule.monday.end must be after start' },
    ]);
  });

  it('does not check the hours of a disabled day', () => {
    expect(errorsOf(makeConfig(makeDay({ enabled: false, start: '17:00', end: '09:00' })))).toBeNull();
  });

  it('rejects overlapping breaks', () => {
    expect(
      errorsOf(
        makeConfig(
          makeDay({
            breaks: [
              { start: '12:00', end: '13:00' },
              { start: '12:30', end: '13:30' },
            ],
          }),
        ),
      ),
    ).toEqual([
      {
        field: 'schedule.monday.breaks.1',
        rule: 'within_hours',
        message: 'schedule.monday.breaks.1 breaks must lie within working hours and not overlap',
      },
    ]);
  });

  it('points at the offending break by its input index, even when breaks are unsorted', () => {
    expect(
      errorsOf(
        makeConfig(
          makeDay({
            breaks: [
              { start: '14:00', end: '15:00' },
              { start: '13:00', end: '12:00' },
            ],
          }),
        ),
      ),
    ).toEqual([{ field: 'schedule.monday.breaks.1.end', rule: 'after_start', message: 'schedule.monday.breaks.1.end must be after the break start' }]);
    expect(
      errorsOf(
        makeConfig(
          makeDay({
            breaks: [
              { start: '12:30', end: '13:30' },
              { start: '10:00', end: '10:15' },
              { start: '12:00', end: '13:00' },
            ],
          }),
        ),
      )?.map((e) => e.field),
    ).toEqual(['schedule.monday.breaks.0']);
  });

  it.each([
    ['starts before opening', { start: '08:30', end: '09:30' }],
    ['ends after closing', { start: '16:30', end: '17:30' }],
    ['lies entirely outside', { start: '18:00', end: '19:00' }],
  ])('rejects a break that %s', (_what, br) => {
    expect(errorsOf(makeConfig(makeDay({ breaks: [br] })))).toEqual([
      {
        field: 'schedule.monday.breaks.0',
        rule: 'within_hours',
        message: 'schedule.monday.breaks.0 breaks must lie within working hours and not overlap',
      },
    ]);
  });

  it('rejects a break that ends before it starts', () => {
    expect(errorsOf(makeConfig(makeDay({ breaks: [{ start: '13:00', end: '13:00' }] })))).toEqual([
      { field: 'schedule.monday.breaks.0.end', rule: 'after_start', message: 'schedule.monday.breaks.0.end must be after the break start' },
    ]);
  });

  it('rejects a bad time zone, an unknown weekday and an impossible holiday', () => {
    expect(errorsOf({ timezone: 'Europe/Atlantis', schedule: {} })).toEqual([
      { field: 'timezone', rule: 'iana_timezone', message: 'timezone must be a valid IANA time zone' },
    ]);
    expect(errorsOf({ timezone: 'UTC', schedule: { funday: makeDay() } })).toEqual([
      { field: 'schedule.funday', rule: 'unknown_field', message: 'schedule.funday is not an accepted field' },
    ]);
    expect(errorsOf({ timezone: 'UTC', schedule: {}, holidays: ['2026-02-30'] })?.map((e) => e.field)).toEqual(['holidays.0']);
    expect(errorsOf({ timezone: 'UTC', schedule: {}, holidays: ['2026-12-25'] })).toBeNull();
  });

  it('takes zone names only, never a UTC offset, whatever the runtime (Node 22+ builds a formatter for +01:00 too)', () => {
    for (const offset of ['+01:00', '-05:30', '+0100', '+01', '-12:00']) {
      expect(isValidTimeZone(offset), offset).toBe(false);
      expect(errorsOf({ timezone: offset, schedule: {} }), offset).toEqual([
        { field: 'timezone', rule: 'iana_timezone', message: 'timezone must be a valid IANA time zone' },
      ]);
    }
    for (const zone of ['UTC', 'Etc/GMT+5', 'Etc/GMT-14', 'America/Argentina/Buenos_Aires', 'America/Port-au-Prince', 'europe/paris']) {
      expect(isValidTimeZone(zone), zone).toBe(true);
    }
  });
});
