import { z } from 'zod';
import { SubjectTokenSchema } from './events.js';

export const WS_CLOSE = { unauthorized: 4401, rateLimited: 4429, slowConsumer: 4408, serviceRestart: 1012 } as const;

export const ClientFrameSchema = z.discriminatedUnion('event', [
  z.object({ event: z.literal('join_session'), id: z.string().max(64).optional(), data: z.object({ sessionId: SubjectTokenSchema, lastEventId: z.uuid().optional() }).strict() }).strict(),
  z.object({ event: z.literal('leave_session'), id: z.string().max(64).optional(), data: z.object({ sessionId: SubjectTokenSchema }).strict() }).strict(),
  z.object({ event: z.literal('get_progress'), id: z.string().max(64).optional(), data: z.object({ sessionId: SubjectTokenSchema }).strict() }).strict(),
]);
export type ClientFrame = z.infer<typeof ClientFrameSchema>;

export const PUSH_EVENTS = [
  'progress_update',
  'milestone_reached',
  'step_completed',
  'validation_error',
  'connection_test_result',
  'onboarding_completed',
  'onboarding_started',
  'session_paused',
  'session_resumed',
] as const;
export const ServerEventNameSchema = z.enum(['connected', 'session_joined', 'session_left', 'error', ...PUSH_EVENTS]);

export const ServerFrameSchema = z.object({
  event: ServerEventNameSchema,
  data: z.record(z.string(), z.unknown()),
  id: z.string().optional(),
});
export type ServerFrame = z.infer<typeof ServerFrameSchema>;

export const ConnectedDataSchema = z.object({ clientId: z.string(), userId: z.string(), tenantId: z.string(), heartbeatMs: z.number().int() });
export const SessionJoinedDataSchema = z.object({ sessionId: z.string(), recovered: z.boolean(), replayed: z.number().int() });
export const WsErrorDataSchema = z.object({ code: z.string(), message: z.string() });
