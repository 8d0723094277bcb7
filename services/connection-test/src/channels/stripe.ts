import { StripeConfigSchema } from '@glavito/contracts';
import { ConnectionTestFailure } from '../domain/result.js';
import type { Channel } from './types.js';

// PLACEHOLDER while the channel is being written in this session; replaced before commit.
export const stripeChannel: Channel<typeof StripeConfigSchema> = {
  schema: StripeConfigSchema,
  summarize: () => ({}),
  async test() {
    throw new ConnectionTestFailure('provider_unavailable', 'not implemented yet');
  },
};
