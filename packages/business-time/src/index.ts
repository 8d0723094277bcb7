import { DateTime } from 'luxon';
import type { z } from 'zod';
import { WEEKDAYS, minutesOfClock, type BusinessHoursCheckResponseSchema, type BusinessHoursConfig, type WorkingTimeResponseSchema } from '@glavito/contracts';

export type BusinessHoursCheck = z.infer<typeof BusinessHoursCheckResponseSchema>;
export type WorkingTime = z.infer<typeof WorkingTimeResponseSchema>;

/** Days scanned when looking for the next opening or closing. */
const SCAN_LIMIT_DAYS = 2 * 366;
/** addBusinessTime accepts up to 525 600 minutes; on a 40 h week that takes ~1 533 calendar days. */
const ADD_LIMIT_DAYS = 10 * 366;
const MAX_RANGE_MS = 366 * 86_400_000;
const MINUTE_MS = 60_000;

/** [start, end) in epoch milliseconds. */
interface Interval {
  start: number;
  end: number;
}

interface Day {
  holiday: boolean;
  closed: boolean;
  /** Working hours including breaks; null when the day is closed or a holiday. */
  hours: Interval | null;
  /** Working hours minus breaks, in chronological order. */
  intervals: Interval[];
}

function millis(d: Date): number {
  const t = d.getTime();
  if (Number.isNaN(t)) throw new RangeError('invalid date');
  return t;
}

/** The tenant-local calendar date of an instant, as a UTC midnight (used only for its y/m/d). */
function localDate(tz: string, at: Date): DateTime {
  const local = DateTime.fromJSDate(at).setZone(tz);
  if (!local.isValid) throw new RangeError(`invalid time zone: ${tz}`);
  return DateTime.utc(local.year, local.month, local.day);
}

/** The instant of wall-clock minute `minute` (0–1440) on `date` in `tz`. */
function wall(date: DateTime, minute: number, tz: string): number {
  const d = date.plus({ days: Math.floor(minute / 1440) });
  const m = minute % 1440;
  // Wall times inside a DST gap (e.g. 02:30 on spring-forward day) are shifted forward by luxon (→ 03:30).
  return DateTime.fromObject({ year: d.year, month: d.month, day: d.day, hour: Math.floor(m / 60), minute: m % 60 }, { zone: tz }).toMillis();
}

function dayOf(config: BusinessHoursConfig, date: DateTime): Day {
  const tz = config.timezone;
  const schedule = config.schedule[WEEKDAYS[date.weekday - 1]!];
  const holiday = config.holidays.includes(date.toISODate()!);
  const closed = !schedule?.enabled;
  if (holiday || !schedule?.enabled) return { holiday, closed, hours: null, intervals: [] };

  const start = minutesOfClock(schedule.start);
  const end = minutesOfClock(schedule.end);
  const segments: Array<[number, number]> = [];
  let cursor = start;
  const breaks = [...(schedule.breaks ?? [])].sort((a, b) => minutesOfClock(a.start) - minutesOfClock(b.start));
  for (const br of breaks) {
    const bs = minutesOfClock(br.start);
    if (bs > cursor) segments.push([cursor, bs]);
    cursor = Math.max(cursor, minutesOfClock(br.end));
  }
  if (end > cursor) segments.push([cursor, end]);

  const intervals = segments.map(([a, b]) => ({ start: wall(date, a, tz), end: wall(date, b, tz) })).filter((iv) => iv.start < iv.end); // a segment entirely inside a DST gap vanishes
  return { holiday, closed, hours: { start: wall(date, start, tz), end: wall(date, end, tz) }, intervals };
}

function* daysFrom(config: BusinessHoursConfig, first: DateTime, limit: number): Generator<Day> {
  for (let i = 0; i < limit; i++) yield dayOf(config, first.plus({ days: i }));
}

function firstOpeningAfter(config: BusinessHoursConfig, from: DateTime, t: number): number | null {
  for (const day of daysFrom(config, from, SCAN_LIMIT_DAYS)) for (const iv of day.intervals) if (iv.end > t) return Math.max(iv.start, t);
  return null;
}

/** Follows back-to-back intervals (e.g. 24:00 → next day's 00:00) so only a real closing is reported. */
function closingAfter(config: BusinessHoursConfig, from: DateTime, t: number): number | null {
  let close = t;
  for (const day of daysFrom(config, from, SCAN_LIMIT_DAYS))
    for (const iv of day.intervals) {
      if (iv.end <= close) continue;
      if (iv.start > close) return close;
      close = iv.end;
    }
  return null;
}

const isoOrNull = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function checkBusinessHours(config: BusinessHoursConfig | null, at: Date): BusinessHoursCheck {
  const t = millis(at);
  const base = { at: at.toISOString() };
  if (!config) return { ...base, isOpen: true, reason: 'always_open', nextOpenAt: null, nextCloseAt: null };

  const today = localDate(config.timezone, at);
  const day = dayOf(config, today);
  if (day.intervals.some((iv) => iv.start <= t && t < iv.end))
    return { ...base, isOpen: true, reason: 'open', nextOpenAt: null, nextCloseAt: isoOrNull(closingAfter(config, today, t)) };

  const reason = day.holiday ? 'holiday' : day.closed ? 'closed_day' : day.hours && day.hours.start <= t && t < day.hours.end ? 'break' : 'outside_hours';
  return { ...base, isOpen: false, reason, nextOpenAt: isoOrNull(firstOpeningAfter(config, today, t)), nextCloseAt: null };
}

/**
 * Business minutes in [start, end), day by day in the tenant zone. businessDays counts the days that
 * contributed time. Without a config every minute counts and days are UTC days.
 */
export function workingTime(config: BusinessHoursConfig | null, start: Date, end: Date): WorkingTime {
  const s = millis(start);
  const e = millis(end);
  if (e < s) throw new RangeError('end must not be before start');
  if (e - s > MAX_RANGE_MS) throw new RangeError('range must not exceed 366 days');

  const tz = config?.timezone ?? 'UTC';
  const breakdown: WorkingTime['breakdown'] = [];
  const excludedHolidays: string[] = [];
  let totalMs = 0;
  for (let date = localDate(tz, start); s < e && wall(date, 0, tz) < e; date = date.plus({ days: 1 })) {
    const day: Day = config
      ? dayOf(config, date)
      : { holiday: false, closed: false, hours: null, intervals: [{ start: wall(date, 0, tz), end: wall(date, 1440, tz) }] };
    const ms = day.intervals.reduce((sum, iv) => sum + Math.max(0, Math.min(iv.end, e) - Math.max(iv.start, s)), 0);
    const iso = date.toISODate()!;
    if (day.holiday) excludedHolidays.push(iso);
    breakdown.push({ date: iso, minutes: ms / MINUTE_MS, isHoliday: day.holiday, isClosedDay: day.closed });
    totalMs += ms;
  }
  return {
    totalMinutes: totalMs / MINUTE_MS,
    businessDays: breakdown.filter((d) => d.minutes > 0).length,
    excludedHolidays,
    breakdown,
  };
}

/**
 * The instant reached after consuming `minutes` business minutes from `start` (counting begins at the next
 * opening when closed). Landing exactly on a closing time returns that closing time.
 */
export function addBusinessTime(config: BusinessHoursConfig | null, start: Date, minutes: number): Date {
  const s = millis(start);
  if (!Number.isFinite(minutes) || minutes < 0) throw new RangeError('minutes must be a non-negative number');
  let remaining = minutes * MINUTE_MS;
  if (!config) return new Date(s + remaining);

  for (const day of daysFrom(config, localDate(config.timezone, start), ADD_LIMIT_DAYS))
    for (const iv of day.intervals) {
      if (iv.end <= s) continue;
      const from = Math.max(iv.start, s);
      if (remaining <= iv.end - from) return new Date(from + remaining);
      remaining -= iv.end - from;
    }
  throw new RangeError(`not enough business time within ${ADD_LIMIT_DAYS} days`);
}

/** Opening instant of the first open, non-holiday day strictly after the tenant-local date of `from`. */
export function nextBusinessDay(config: BusinessHoursConfig | null, from: Date): Date | null {
  millis(from);
  if (!config) return DateTime.fromJSDate(from, { zone: 'utc' }).startOf('day').plus({ days: 1 }).toJSDate();
  const tomorrow = localDate(config.timezone, from).plus({ days: 1 });
  for (const day of daysFrom(config, tomorrow, SCAN_LIMIT_DAYS)) {
    const first = day.intervals[0];
    if (first) return new Date(first.start);
  }
  return null;
}
