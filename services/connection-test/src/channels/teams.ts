import { TeamsConfigSchema } from '@glavito/contracts';
import { ConnectionTestFailure } from '../domain/result.js';
import type { Channel } from './types.js';

// PLACEHOLDER while the channel is being written in this session; replaced before commit.
export const teamsChannel: Channel<typeof TeamsConfigSchema> = {
  schema: TeamsConfigSchema,
  summarize: () => ({}),
  async test() {
    throw new ConnectionTestFailure('provider_unavailable', 'not implemented yet');
  },
};
