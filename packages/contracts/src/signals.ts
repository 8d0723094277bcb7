import { z } from 'zod';

/**
 * External signals: something that happened outside the session service (Stripe enabled an account, a
 * connection test succeeded) completes or annotates a named step. The session service owns the rules
 * (which event means what for which step); these are the shapes they leave behind.
 */

/** Where a step completion or annotation came from: not the user's save. */
export const ExternalTriggerSchema = z.object({
  kind: z.literal('external'),
  /** The system that said so, e.g. `stripe`, `connection-test`. */
  source: z.string().max(64),
  /** The event type that carried it, e.g. `payment.account_updated`. */
  signal: z.string().max(128),
  /** The external thing it is about (a Stripe account id, a channel name); never a secret. */
  ref: z.string().max(128),
  eventId: z.string().max(64),
});
export type ExternalTrigger = z.infer<typeof ExternalTriggerSchema>;

/** What one source last said about a step: `ready` (done), `attention_needed` (more is asked), `verified` (a channel works). */
export const StepSignalStateSchema = z.enum(['ready', 'attention_needed', 'verified']);

export const StepSignalSchema = z.object({
  state: StepSignalStateSchema,
  source: z.string(),
  ref: z.string(),
  at: z.string().describe('when the source said so'),
  eventId: z.string(),
  /** Non-secret facts for display (e.g. the Stripe requirements still due). */
  details: z.record(z.string(), z.unknown()).optional(),
});
export type StepSignal = z.infer<typeof StepSignalSchema>;

/** Per step, per signal key (`stripe`, `channel:email`): the latest signal. */
export const StepSignalsSchema = z.record(z.string(), z.record(z.string(), StepSignalSchema));
export type StepSignals = z.infer<typeof StepSignalsSchema>;
