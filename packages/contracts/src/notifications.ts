import { z } from 'zod';
import { BusinessHoursConfigSchema } from './business-hours.js';
import { NotificationPreferencesDataSchema } from './step-data.js';
import { OnboardingTypeSchema } from './steps.js';

// The notification context's contract: reminder policies, in-app notifications, delivery settings, and the
// events that feed it (business hours from session) or that it publishes (notification.created).

/** Languages reminder texts can be written in; a language is added here (and in the service's defaults). */
export const NotificationLanguageSchema = z.enum(['en']);
export type NotificationLanguage = z.infer<typeof NotificationLanguageSchema>;

export const NotificationChannelSchema = z.enum(['in_app', 'email']);
export type NotificationChannel = z.infer<typeof NotificationChannelSchema>;

/**
 * A reminder's text. Placeholders: `{{stepsLeftCount}}`, `{{stepsLeft}}` (titles, comma-separated),
 * `{{nextStep}}` (title of the next step) and `{{link}}`; anything else is kept as written.
 */
export const ReminderTextSchema = z
  .object({
    subject: z.string().trim().min(1).max(200),
    body: z.string().trim().min(1).max(4000),
  })
  .strict();
export type ReminderText = z.infer<typeof ReminderTextSchema>;

const TextsByLanguage = z.partialRecord(NotificationLanguageSchema, ReminderTextSchema);

export const ReminderPolicySchema = z
  .object({
    enabled: z.boolean(),
    /** Business minutes (the tenant's business hours) without activity before a reminder, and between reminders. */
    inactivityMinutes: z.number().int().min(1).max(525_600),
    /** Reminders per stall at most (activity starts a new count); 0 sends none. */
    maxReminders: z.number().int().min(0).max(10),
    channels: z
      .array(NotificationChannelSchema)
      .min(1)
      .max(2)
      .refine((c) => new Set(c).size === c.length, { message: 'must not repeat a channel', params: { rule: 'unique' } }),
    /** Milestone and completion notifications to the tenant's admins (in-app; email when `email`). */
    adminNotifications: z.object({ milestones: z.boolean(), completion: z.boolean(), email: z.boolean() }).strict(),
    /** Per flow and language; a flow or language left out uses the built-in English text. */
    texts: z.object({ tenant_setup: TextsByLanguage.optional(), agent_welcome: TextsByLanguage.optional() }).strict(),
  })
  .strict();
export type ReminderPolicy = z.infer<typeof ReminderPolicySchema>;

export const ReminderPolicyResponseSchema = z.object({
  configured: z.boolean().describe('false: the defaults apply'),
  policy: ReminderPolicySchema,
  updatedAt: z.string().nullable(),
});

export const NotificationKindSchema = z.enum(['reminder', 'milestone', 'completion']);

export const NotificationSchema = z.object({
  id: z.uuid(),
  kind: NotificationKindSchema,
  sessionId: z.string(),
  sessionType: OnboardingTypeSchema,
  title: z.string(),
  body: z.string(),
  /** Where to go next (the step to resume), relative to the frontend. */
  link: z.string().nullable(),
  /** Steps still open when a reminder was written. */
  stepsLeft: z.array(z.string()).optional(),
  createdAt: z.string(),
  readAt: z.string().nullable(),
});
export type Notification = z.infer<typeof NotificationSchema>;

export const NotificationListQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(200).optional(),
    unread: z.enum(['true', 'false']).optional().describe('true: unread ones only'),
  })
  .strict();
export const NotificationListResponseSchema = z.object({
  items: z.array(NotificationSchema),
  unreadCount: z.number().int(),
  nextCursor: z.string().nullable(),
});

export const MarkReadBodySchema = z
  .object({ ids: z.array(z.uuid()).min(1).max(100).optional(), all: z.literal(true).optional() })
  .strict()
  .refine((b) => (b.ids === undefined) !== (b.all === undefined), { message: 'give either ids or all: true', params: { rule: 'one_of' } });
export const MarkReadResponseSchema = z.object({ marked: z.number().int(), unreadCount: z.number().int() });

export const NotificationSettingsBodySchema = z
  .object({
    /** Where reminder emails go; null removes the address. */
    email: z.email().max(254).nullable().optional(),
    /** false unsubscribes from reminder emails, true subscribes again. */
    emailReminders: z.boolean().optional(),
    language: NotificationLanguageSchema.optional(),
  })
  .strict();
export const NotificationSettingsSchema = z.object({
  email: z.string().nullable(),
  emailReminders: z.boolean(),
  language: NotificationLanguageSchema,
  /** The answers of the agent's notification_preferences step, when given (emails are sent only if `email` is not false). */
  preferences: NotificationPreferencesDataSchema.nullable(),
});

export const UnsubscribeQuerySchema = z.object({ token: z.string().min(10).max(512) }).strict();
/** One-click unsubscribe (RFC 8058) posts `List-Unsubscribe=One-Click` as a form; a JSON body or none is fine too. */
export const UnsubscribeBodySchema = z.union([z.string().max(200), z.record(z.string(), z.unknown())]).nullish();
export const UnsubscribeResponseSchema = z.object({ unsubscribed: z.literal(true) });

// ---------- events ----------

/** The `sessionId` of tenant-wide events (business hours): not a session, one per tenant. */
export const TENANT_SCOPE_ID = '_tenant';

/** business_hours.changed (session service): the tenant's business hours after a change; null = always open. `sessionSeq` = the config's version. */
export const BusinessHoursChangedDataSchema = z.object({ config: BusinessHoursConfigSchema.nullable(), version: z.number().int().min(1) });
/** notification.created (notification service): an in-app notification for the envelope's `userId` (the recipient). */
export const NotificationCreatedDataSchema = z.object({ notification: NotificationSchema });
