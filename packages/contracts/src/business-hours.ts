import { z } from 'zod';

/**
 * Zones found valid so far: building an Intl.DateTimeFormat is the costliest check of a step save that carries a
 * time zone (bench/RESULTS.md §3). Bounded: Intl accepts any casing, so the valid spellings are not a small set.
 */
const validZones = new Set<string>();
const VALID_ZONES_KEPT = 4096;

/**
 * The shape of an IANA zone name (`Europe/Paris`, `UTC`, `Etc/GMT+5`), also the JSON Schema's pattern. Intl alone is
 * not enough: since Node 22 (ICU 74+, ECMA-402 2024) it also accepts UTC offsets such as `+01:00`, which are not
 * zones (no daylight saving rules), and which Postgres' `AT TIME ZONE` reads with the opposite sign.
 */
export const IANA_TIME_ZONE_PATTERN = '^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*$';
const ianaShape = new RegExp(IANA_TIME_ZONE_PATTERN);

export function isValidTimeZone(tz: string): boolean {
  if (tz.length === 0 || tz.length > 64) return false;
  if (validZones.has(tz)) return true;
  if (!ianaShape.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    return false;
  }
  if (validZones.size < VALID_ZONES_KEPT) validZones.add(tz);
  return true;
}

export const TimeZoneSchema = z
  .string()
  .max(64)
  .refine(isValidTimeZone, { message: 'must be a valid IANA time zone', params: { rule: 'iana_timezone' } });

/** HH:mm, 00:00–23:59; an end time may also be 24:00 (end of day, exclusive). */
export const ClockTimeSchema = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'must be HH:mm (00:00–24:00)');

export function minutesOfClock(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

const IsoDateSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD')
  .refine((d) => {
    const date = new Date(`${d}T00:00:00Z`);
    return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === d;
  }, 'must be a real calendar date');

export const BreakSchema = z.object({ start: ClockTimeSchema, end: ClockTimeSchema, name: z.string().max(100).optional() }).strict();

export const DayScheduleSchema = z
  .object({
    enabled: z.boolean(),
    start: ClockTimeSchema,
    end: ClockTimeSchema,
    breaks: z.array(BreakSchema).max(10).optional(),
  })
  .strict()
  .superRefine((day, ctx) => {
    if (!day.enabled) return;
    const start = minutesOfClock(day.start);
    const end = minutesOfClock(day.end);
    if (start >= end) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'must be after start', params: { rule: 'after_start' } });
      return;
    }
    // Sorted for the overlap check, but issues must point at the break's index in the input.
    const breaks = (day.breaks ?? []).map((br, i) => ({ br, i })).sort((a, b) => minutesOfClock(a.br.start) - minutesOfClock(b.br.start));
    let previousEnd = start;
    breaks.forEach(({ br, i }) => {
      const bs = minutesOfClock(br.start);
      const be = minutesOfClock(br.end);
      if (bs >= be) ctx.addIssue({ code: 'custom', path: ['breaks', i, 'end'], message: 'must be after the break start', params: { rule: 'after_start' } });
      else if (bs < previousEnd || be > end)
        ctx.addIssue({
          code: 'custom',
          path: ['breaks', i],
          message: 'breaks must lie within working hours and not overlap',
          params: { rule: 'within_hours' },
        });
      previousEnd = Math.max(previousEnd, be);
    });
  });
export type DaySchedule = z.infer<typeof DayScheduleSchema>;

export const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export const WeeklyScheduleSchema = z
  .object({
    monday: DayScheduleSchema.optional(),
    tuesday: DayScheduleSchema.optional(),
    wednesday: DayScheduleSchema.optional(),
    thursday: DayScheduleSchema.optional(),
    friday: DayScheduleSchema.optional(),
    saturday: DayScheduleSchema.optional(),
    sunday: DayScheduleSchema.optional(),
  })
  .strict()
  .describe('A day that is missing is closed.');

export const BusinessHoursConfigSchema = z
  .object({
    timezone: TimeZoneSchema,
    schedule: WeeklyScheduleSchema,
    holidays: z.array(IsoDateSchema).max(366).default([]),
  })
  .strict();
export type BusinessHoursConfig = z.infer<typeof BusinessHoursConfigSchema>;

export const BusinessHoursResponseSchema = z.object({
  configured: z.boolean().describe('false means "always open"'),
  config: BusinessHoursConfigSchema.nullable(),
  updatedAt: z.string().nullable(),
});

const InstantSchema = z.iso.datetime({ offset: true });

export const BusinessHoursCheckQuerySchema = z.object({ at: InstantSchema.optional() }).strict();
export const BusinessHoursCheckResponseSchema = z.object({
  at: z.string(),
  isOpen: z.boolean(),
  reason: z.enum(['always_open', 'open', 'holiday', 'closed_day', 'outside_hours', 'break']),
  nextOpenAt: z.string().nullable(),
  nextCloseAt: z.string().nullable(),
});

export const WorkingTimeBodySchema = z.object({ start: InstantSchema, end: InstantSchema }).strict();
export const WorkingTimeResponseSchema = z.object({
  totalMinutes: z.number(),
  businessDays: z.number().int(),
  excludedHolidays: z.array(z.string()),
  breakdown: z.array(z.object({ date: z.string(), minutes: z.number(), isHoliday: z.boolean(), isClosedDay: z.boolean() })),
});

export const AddTimeBodySchema = z.object({ start: InstantSchema, minutes: z.number().int().min(0).max(525_600) }).strict();
export const AddTimeResponseSchema = z.object({ start: z.string(), minutes: z.number().int(), result: z.string() });

export const NextBusinessDayQuerySchema = z.object({ from: InstantSchema.optional() }).strict();
export const NextBusinessDayResponseSchema = z.object({ from: z.string(), nextBusinessDay: z.string().nullable() });
