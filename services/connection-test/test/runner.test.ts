import { SlackConfigSchema } from '@glavito/contracts';
import { describe, expect, it } from 'vitest';
import type { Channel } from '../src/channels/types.js';
import { createOutboundPolicy } from '../src/domain/outbound-policy.js';
import { ConnectionTestFailure } from '../src/domain/result.js';
import { runConnectionTest } from '../src/domain/runner.js';

const providers = { slackApiUrl: '', microsoftLoginUrl: '', whatsappGraphUrl: '', stripeApiUrl: '', openaiUrl: '', anthropicUrl: '', googleAiUrl: '' };

function channelThatFails(code: ConstructorParameters<typeof ConnectionTestFailure>[0], message: string): Channel {
  return {
    schema: SlackConfigSchema,
    summarize: () => ({}),
    test: async () => {
      throw new ConnectionTestFailure(code, message, `hint mentioning ${message}`);
    },
  } as Channel;
}

describe('runConnectionTest', () => {
  it('scrubs a credential from free text without touching codes or statuses, however short it is', async () => {
    const { result } = await runConnectionTest(
      { channel: 'slack', config: { botToken: 'xoxb-limited-token-1' } },
      {
        channels: { slack: channelThatFails('rate_limited', 'echoed xoxb-limited-token-1 back') },
        policy: createOutboundPolicy([]),
        providers,
        defaultTimeoutMs: 1000,
      },
    );
    expect(result.errorCode).toBe('rate_limited');
    expect(result.message).toBe('echoed ******** back');
    expect(result.hint).toBe('hint mentioning echoed ******** back');
    expect(JSON.stringify(result)).not.toContain('xoxb-limited-token-1');
  });

  it('turns a hung channel into a timeout result at the deadline', async () => {
    const hung = { schema: SlackConfigSchema, summarize: () => ({}), test: () => new Promise(() => {}) } as unknown as Channel;
    const started = Date.now();
    const { result } = await runConnectionTest(
      { channel: 'slack', config: { botToken: 'xoxb-aaaaaaaaaa' }, timeout: 200 },
      { channels: { slack: hung }, policy: createOutboundPolicy([]), providers, defaultTimeoutMs: 10_000 },
    );
    expect(result).toMatchObject({ status: 'error', errorCode: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('an invalid config is a config_invalid result with field errors, not an exception', async () => {
    const { result } = await runConnectionTest(
      { channel: 'teams', config: { tenantId: 'x' } },
      { channels: {}, policy: createOutboundPolicy([]), providers, defaultTimeoutMs: 1000 },
    );
    expect(result).toMatchObject({ status: 'error', errorCode: 'config_invalid' });
    expect((result.details.errors as Array<{ field: string }>).map((e) => e.field)).toEqual(expect.arrayContaining(['tenantId', 'clientId', 'clientSecret']));
  });
});
