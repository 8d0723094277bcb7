import { z } from 'zod';
import { SubjectTokenSchema } from './ids.js';

export const RoleSchema = z.enum(['admin', 'agent']);

/** Claims every token must carry; ids double as NATS subject tokens, so they are restricted. */
export const TokenClaimsSchema = z.object({
  sub: SubjectTokenSchema,
  tenantId: SubjectTokenSchema,
  roles: z.array(z.string().max(32)).max(20),
});
export type TokenClaims = z.infer<typeof TokenClaimsSchema>;

export interface Principal {
  userId: string;
  tenantId: string;
  roles: string[];
  isAdmin: boolean;
}
