import { describe, it, expect } from 'vitest';
import { BusinessHoursConfigSchema, type BusinessHoursConfig } from '@glavito/contracts';
import { addBusinessTime, checkBusinessHours, nextBusinessDay, workingTime } from '../src/index.js';

const d = (iso: string) => new Date(iso);
const config = (input: unknown): BusinessHoursConfig => BusinessHoursConfigSchema.parse(input);

const workday = { enabled: true, start: '09:00', end: '17:00', breaks: [{ start: '12:00', end: '13:00', name: 'Lunch' }] };
// Mon–Fri 09:00–17:00 with lunch 12:00–13:00 → 7 h = 420 min a day. New York is UTC−4 in summer (EDT), UTC−5 in winter (EST).
const ny = config({
  timezone: 'America/New_York',
  schedule: { monday: workday, tuesday: workday, wednesday: workday, thursday: workday, friday: workday },
  holidays: ['2026-07-03'], // a Friday
});
// Only Sunday, all day.
const nySunday = config({ timezone: 'America/New_York', schedule: { sunday: { enabled: true, start: '00:00', end: '24:00' } } });

describe('no config (always open)', () => {
  it('is always open', () => {
    expect(checkBusinessHours(null, d('2026-06-06T03:00:00Z'))).toEqual({
      at: '2026-06-06T03:00:00.000Z',
      isOpen: true,
      reason: 'always_open',
      nextOpenAt: null,
      nextCloseAt: null,
    });
  });

  it('counts raw minutes per UTC day', () => {
    // 10:00Z → 24:00Z = 840 min, then 00:00Z → 02:30Z = 150 min; total 990
    expect(workingTime(null, d('2026-06-01T10:00:00Z'), d('2026-06-02T02:30:00Z'))).toEqual({
      totalMinutes: 990,
      businessDays: 2,
      excludedHolidays: [],
      breakdown: [
        { date: '2026-06-01', minutes: 840, isHoliday: false, isClosedDay: false },
        { date: '2026-06-02', minutes: 150, isHoliday: false, isClosedDay: false },
      ],
    });
  });

  it('adds plainly and moves to the next UTC midnight', () => {
    expect(addBusinessTime(null, d('2026-06-06T23:30:00Z'), 90).toISOString()).toBe('2026-06-07T01:00:00.000Z');
    expect(nextBusinessDay(null, d('2026-06-01T23:59:00Z'))?.toISOString()).toBe('2026-06-02T00:00:00.000Z');
  });
});

describe('checkBusinessHours, New York Mon–Fri 09:00–17:00, lunch 12:00–13:00', () => {
  const check = (iso: string) => checkBusinessHours(ny, d(iso));

  it('is open during hours; closes at lunch', () => {
    // Mon 2026-06-01 10:00 EDT = 14:00Z; lunch starts 12:00 EDT = 16:00Z
    expect(check('2026-06-01T14:00:00Z')).toMatchObject({ isOpen: true, reason: 'open', nextOpenAt: null, nextCloseAt: '2026-06-01T16:00:00.000Z' });
    // 16:59 EDT = 20:59Z closes at 17:00 EDT = 21:00Z
    expect(check('2026-06-01T20:59:00Z')).toMatchObject({ isOpen: true, nextCloseAt: '2026-06-01T21:00:00.000Z' });
  });

  it('reports the break and reopens at its end', () => {
    // 12:30 EDT = 16:30Z; reopens 13:00 EDT = 17:00Z
    expect(check('2026-06-01T16:30:00Z')).toMatchObject({ isOpen: false, reason: 'break', nextOpenAt: '2026-06-01T17:00:00.000Z', nextCloseAt: null });
  });

  it('treats the end as exclusive: 17:00 is closed', () => {
    // Mon 17:00 EDT = 21:00Z; next opening Tue 09:00 EDT = 13:00Z
    expect(check('2026-06-01T21:00:00Z')).toMatchObject({ isOpen: false, reason: 'outside_hours', nextOpenAt: '2026-06-02T13:00:00.000Z' });
  });

  it('uses the tenant-local date, not the UTC date', () => {
    // 2026-06-02T02:00Z is Mon 22:00 EDT → opens Tue 09:00 EDT = 13:00Z
    expect(check('2026-06-02T02:00:00Z')).toMatchObject({ reason: 'outside_hours', nextOpenAt: '2026-06-02T13:00:00.000Z' });
    // 08:00 EDT = 12:00Z → opens later today at 13:00Z
    expect(check('2026-06-01T12:00:00Z')).toMatchObject({ reason: 'outside_hours', nextOpenAt: '2026-06-01T13:00:00.000Z' });
  });

  it('finds the next opening across a weekend', () => {
    // Fri 2026-06-05 18:00 EDT and Sat 12:00 EDT → Mon 2026-06-08 09:00 EDT = 13:00Z
    expect(check('2026-06-05T22:00:00Z')).toMatchObject({ reason: 'outside_hours', nextOpenAt: '2026-06-08T13:00:00.000Z' });
    expect(check('2026-06-06T16:00:00Z')).toMatchObject({ isOpen: false, reason: 'closed_day', nextOpenAt: '2026-06-08T13:00:00.000Z' });
  });

  it('is closed on a holiday and reopens after the weekend', () => {
    // Fri 2026-07-03 10:00 EDT (holiday) → Mon 2026-07-06 09:00 EDT = 13:00Z
    expect(check('2026-07-03T14:00:00Z')).toMatchObject({ isOpen: false, reason: 'holiday', nextOpenAt: '2026-07-06T13:00:00.000Z' });
  });

  it('follows back-to-back days when reporting the next closing', () => {
    const weekend = config({
      timezone: 'America/New_York',
      schedule: { saturday: { enabled: true, start: '00:00', end: '24:00' }, sunday: { enabled: true, start: '00:00', end: '24:00' } },
    });
    // Sat 2026-06-06 12:00 EDT → closes Mon 00:00 EDT = 2026-06-08T04:00Z
    expect(checkBusinessHours(weekend, d('2026-06-06T16:00:00Z')).nextCloseAt).toBe('2026-06-08T04:00:00.000Z');
  });
});

describe('workingTime', () => {
  it('excludes breaks and holidays over a week', () => {
    // Mon 2026-06-29 00:00 EDT → Sat 2026-07-04 00:00 EDT: Mon–Thu 4 × 420 = 1680; Fri 07-03 is a holiday
    const result = workingTime(ny, d('2026-06-29T04:00:00Z'), d('2026-07-04T04:00:00Z'));
    expect(result.totalMinutes).toBe(1680);
    expect(result.businessDays).toBe(4);
    expect(result.excludedHolidays).toEqual(['2026-07-03']);
    expect(result.breakdown).toEqual([
      { date: '2026-06-29', minutes: 420, isHoliday: false, isClosedDay: false },
      { date: '2026-06-30', minutes: 420, isHoliday: false, isClosedDay: false },
      { date: '2026-07-01', minutes: 420, isHoliday: false, isClosedDay: false },
      { date: '2026-07-02', minutes: 420, isHoliday: false, isClosedDay: false },
      { date: '2026-07-03', minutes: 0, isHoliday: true, isClosedDay: false },
    ]);
  });

  it('counts partial days', () => {
    // Mon 10:30 → Tue 12:30 EDT: Mon 10:30–12:00 (90) + 13:00–17:00 (240); Tue 09:00–12:00 (180) = 510
    const result = workingTime(ny, d('2026-06-01T14:30:00Z'), d('2026-06-02T16:30:00Z'));
    expect(result.totalMinutes).toBe(510);
    expect(result.breakdown.map((b) => b.minutes)).toEqual([330, 180]);
  });

  it('counts real elapsed minutes across spring-forward (2026-03-08)', () => {
    // Sat 00:00 EST (05:00Z) → Tue 00:00 EDT (04:00Z): Sunday 00:00–24:00 lasts 23 h = 1380 min
    const result = workingTime(nySunday, d('2026-03-07T05:00:00Z'), d('2026-03-10T04:00:00Z'));
    expect(result.totalMinutes).toBe(1380);
    expect(result.businessDays).toBe(1);
    expect(result.breakdown).toEqual([
      { date: '2026-03-07', minutes: 0, isHoliday: false, isClosedDay: true },
      { date: '2026-03-08', minutes: 1380, isHoliday: false, isClosedDay: false },
      { date: '2026-03-09', minutes: 0, isHoliday: false, isClosedDay: true },
    ]);
  });

  it('counts real elapsed minutes across fall-back (2026-11-01)', () => {
    // Sat 00:00 EDT (04:00Z) → Tue 00:00 EST (05:00Z): Sunday lasts 25 h = 1500 min
    expect(workingTime(nySunday, d('2026-10-31T04:00:00Z'), d('2026-11-03T05:00:00Z')).totalMinutes).toBe(1500);
  });

  it('shifts wall times inside the DST gap forward', () => {
    const gap = config({ timezone: 'America/New_York', schedule: { sunday: { enabled: true, start: '02:30', end: '05:00' } } });
    // 02:30 does not exist on 2026-03-08: opens 03:30 EDT (07:30Z), closes 05:00 EDT (09:00Z) → 90 min
    expect(workingTime(gap, d('2026-03-08T00:00:00Z'), d('2026-03-09T00:00:00Z')).totalMinutes).toBe(90);
    expect(nextBusinessDay(gap, d('2026-03-07T17:00:00Z'))?.toISOString()).toBe('2026-03-08T07:30:00.000Z');
  });

  it('rejects end before start and over-long ranges', () => {
    expect(() => workingTime(ny, d('2026-06-02T00:00:00Z'), d('2026-06-01T00:00:00Z'))).toThrow(RangeError);
    expect(() => workingTime(null, d('2026-06-02T00:00:00Z'), d('2026-06-01T00:00:00Z'))).toThrow(RangeError);
    expect(() => workingTime(ny, d('2026-01-01T00:00:00Z'), d('2027-01-03T00:00:00Z'))).toThrow(RangeError);
  });

  it('returns zero for an empty range', () => {
    expect(workingTime(ny, d('2026-06-01T14:00:00Z'), d('2026-06-01T14:00:00Z'))).toEqual({
      totalMinutes: 0,
      businessDays: 0,
      excludedHolidays: [],
      breakdown: [],
    });
  });
});

describe('addBusinessTime', () => {
  const add = (cfg: BusinessHoursConfig, iso: string, minutes: number) => addBusinessTime(cfg, d(iso), minutes).toISOString();

  it('skips lunch and returns the closing time when it lands on it', () => {
    // Mon 11:30 EDT + 60: 30 before lunch, 30 after → 13:30 EDT = 17:30Z
    expect(add(ny, '2026-06-01T15:30:00Z', 60)).toBe('2026-06-01T17:30:00.000Z');
    // Mon 16:00 EDT + 60 → 17:00 EDT = 21:00Z
    expect(add(ny, '2026-06-01T20:00:00Z', 60)).toBe('2026-06-01T21:00:00.000Z');
  });

  it('with 0 minutes returns start when open, else the next opening', () => {
    expect(add(ny, '2026-06-01T14:00:00Z', 0)).toBe('2026-06-01T14:00:00.000Z');
    // Mon 17:00 EDT → Tue 09:00 EDT = 13:00Z
    expect(add(ny, '2026-06-01T21:00:00Z', 0)).toBe('2026-06-02T13:00:00.000Z');
  });

  it('starts counting at the next opening when closed', () => {
    // Sat → Mon 2026-06-08 09:00 EDT (13:00Z) + 30 → 13:30Z
    expect(add(ny, '2026-06-06T16:00:00Z', 30)).toBe('2026-06-08T13:30:00.000Z');
  });

  it('crosses the spring-forward weekend: Fri 16:00 EST + 120 → Mon 10:00 EDT', () => {
    // Fri 2026-03-06 16:00 EST = 21:00Z: 60 min Friday; Mon 09:00 EDT (13:00Z) + 60 → 14:00Z (UTC−5 → UTC−4)
    expect(add(ny, '2026-03-06T21:00:00Z', 120)).toBe('2026-03-09T14:00:00.000Z');
  });

  it('crosses the fall-back weekend: Fri 16:00 EDT + 120 → Mon 10:00 EST', () => {
    // Fri 2026-10-30 16:00 EDT = 20:00Z: 60 min Friday; Mon 09:00 EST (14:00Z) + 60 → 15:00Z (UTC−4 → UTC−5)
    expect(add(ny, '2026-10-30T20:00:00Z', 120)).toBe('2026-11-02T15:00:00.000Z');
  });

  it('adds elapsed time, not wall-clock time, through the DST gap', () => {
    // Sun 2026-03-08 00:00 EST (05:00Z) + 180 min → 08:00Z, which is 04:00 EDT on the wall
    expect(add(nySunday, '2026-03-08T05:00:00Z', 180)).toBe('2026-03-08T08:00:00.000Z');
  });

  it('throws RangeError instead of looping when every day is disabled', () => {
    const off = { enabled: false, start: '09:00', end: '17:00' };
    const closed = config({
      timezone: 'America/New_York',
      schedule: { monday: off, tuesday: off, wednesday: off, thursday: off, friday: off, saturday: off, sunday: off },
    });
    expect(() => addBusinessTime(closed, d('2026-06-01T14:00:00Z'), 1)).toThrow(RangeError);
    expect(checkBusinessHours(closed, d('2026-06-01T14:00:00Z'))).toMatchObject({ isOpen: false, reason: 'closed_day', nextOpenAt: null });
    expect(nextBusinessDay(closed, d('2026-06-01T14:00:00Z'))).toBeNull();
  });
});

describe('nextBusinessDay', () => {
  it('returns the opening of the next open, non-holiday day', () => {
    // Mon 2026-06-01 08:00 EDT (before opening) → strictly after today: Tue 09:00 EDT = 13:00Z
    expect(nextBusinessDay(ny, d('2026-06-01T12:00:00Z'))?.toISOString()).toBe('2026-06-02T13:00:00.000Z');
    // Thu 2026-07-02 → Fri 07-03 is a holiday → Mon 07-06 09:00 EDT = 13:00Z
    expect(nextBusinessDay(ny, d('2026-07-02T14:00:00Z'))?.toISOString()).toBe('2026-07-06T13:00:00.000Z');
  });
});

describe('other time zones', () => {
  const berlinDay = { enabled: true, start: '08:00', end: '16:30' };
  // Berlin is UTC+2 in summer (CEST)
  const berlin = config({
    timezone: 'Europe/Berlin',
    schedule: { monday: berlinDay, tuesday: berlinDay, wednesday: berlinDay, thursday: berlinDay, friday: berlinDay },
  });
  const indiaDay = { enabled: true, start: '09:30', end: '18:30' };
  // Kolkata is UTC+5:30 all year
  const kolkata = config({
    timezone: 'Asia/Kolkata',
    schedule: { monday: indiaDay, tuesday: indiaDay, wednesday: indiaDay, thursday: indiaDay, friday: indiaDay, saturday: indiaDay },
  });

  it('Europe/Berlin', () => {
    // Mon 2026-06-01 07:59 CEST = 05:59Z → opens 08:00 CEST = 06:00Z
    expect(checkBusinessHours(berlin, d('2026-06-01T05:59:00Z'))).toMatchObject({ reason: 'outside_hours', nextOpenAt: '2026-06-01T06:00:00.000Z' });
    // 2026-06-05T22:30Z is already Sat 00:30 CEST → next business day Mon 2026-06-08 08:00 CEST = 06:00Z
    expect(nextBusinessDay(berlin, d('2026-06-05T22:30:00Z'))?.toISOString()).toBe('2026-06-08T06:00:00.000Z');
    // Mon 16:00 CEST (14:00Z) + 60: 30 Monday, Tue 08:00 CEST (06:00Z) + 30 → 06:30Z
    expect(addBusinessTime(berlin, d('2026-06-01T14:00:00Z'), 60).toISOString()).toBe('2026-06-02T06:30:00.000Z');
  });

  it('Asia/Kolkata', () => {
    // Mon 2026-06-01 09:30 IST = 04:00Z → open, closes 18:30 IST = 13:00Z
    expect(checkBusinessHours(kolkata, d('2026-06-01T04:00:00Z'))).toMatchObject({ isOpen: true, nextCloseAt: '2026-06-01T13:00:00.000Z' });
    // Sat 2026-06-06 18:00 IST (12:30Z) + 60: 30 Saturday, Sunday closed, Mon 09:30 IST (04:00Z) + 30 → 04:30Z
    expect(addBusinessTime(kolkata, d('2026-06-06T12:30:00Z'), 60).toISOString()).toBe('2026-06-08T04:30:00.000Z');
    // 9 h/day: Mon 00:00 IST → Tue 00:00 IST = 540 min
    expect(workingTime(kolkata, d('2026-05-31T18:30:00Z'), d('2026-06-01T18:30:00Z')).totalMinutes).toBe(540);
  });
});
