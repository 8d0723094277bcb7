import { aiProviderChannel } from './ai-provider.js';
import { databaseChannel } from './database.js';
import { emailChannel } from './email.js';
import { slackChannel } from './slack.js';
import { stripeChannel } from './stripe.js';
import { teamsChannel } from './teams.js';
import type { Channel } from './types.js';
import { webhookChannel } from './webhook.js';
import { whatsappChannel } from './whatsapp.js';

/** One module per channel; the runner looks them up by the request's `channel`. */
export const CHANNELS: Record<string, Channel> = {
  email: emailChannel as Channel,
  slack: slackChannel as Channel,
  teams: teamsChannel as Channel,
  whatsapp: whatsappChannel as Channel,
  webhook: webhookChannel as Channel,
  stripe: stripeChannel as Channel,
  database: databaseChannel as Channel,
  ai_provider: aiProviderChannel as Channel,
};
