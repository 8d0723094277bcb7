import { WhatsAppConfigSchema } from '@glavito/contracts';
import { request } from 'undici';
import { ConnectionTestFailure, defaultHint } from '../domain/result.js';
import type { Channel } from './types.js';

const FIELDS = 'display_phone_number,verified_name,quality_rating';
const RATE_LIMIT_CODES = new Set([4, 17, 32, 613, 80007, 130429]);
const PERMISSION_HINT =
  'Give the token the whatsapp_business_management and whatsapp_business_messaging permissions, and assign its system user to the WhatsApp Business Account that owns this number.';

interface GraphError {
  message?: string;
  type?: string;
  code?: number;
  error_subcode?: number;
  fbtrace_id?: string;
}

interface PhoneNumber {
  id?: string;
  display_phone_number?: string;
  verified_name?: string;
  quality_rating?: string;
}

type Refusal = { stage: 'request' | 'auth' | 'permission'; failure: ConnectionTestFailure };

function said(e: GraphError): string {
  const m = String(e.message ?? '').trim();
  return m.length > 240 ? `${m.slice(0, 237)}...` : m;
}

/** Graph error codes onto the taxonomy, and the stage each belongs to. */
function graphFailure(status: number, e: GraphError): Refusal {
  const code = typeof e.code === 'number' ? e.code : undefined;
  const details = {
    httpStatus: status,
    ...(code !== undefined ? { graphCode: code } : {}),
    ...(e.error_subcode ? { graphSubcode: e.error_subcode } : {}),
    ...(e.fbtrace_id ? { fbtraceId: e.fbtrace_id } : {}),
  };
  const text = said(e);
  const msg = (prefix: string) => `${prefix}${text ? `: ${text}` : ''}`;
  if (code === 190 || code === 102 || code === 2500) {
    const hint =
      e.error_subcode === 463
        ? 'The access token has expired. Use a System User access token (it does not expire) from Meta Business Settings.'
        : 'The access token is invalid or was revoked. Generate a new System User access token in Meta Business Settings.';
    return { stage: 'auth', failure: new ConnectionTestFailure('auth_invalid', msg('Meta rejected the access token'), hint, details) };
  }
  if (code !== undefined && RATE_LIMIT_CODES.has(code))
    return {
      stage: 'request',
      failure: new ConnectionTestFailure('rate_limited', msg('Meta is rate limiting this app or number'), defaultHint('rate_limited'), details),
    };
  if (code === 10 || (code !== undefined && code >= 200 && code <= 299))
    return {
      stage: 'permission',
      failure: new ConnectionTestFailure('permission_missing', msg('The token lacks a permission for this phone number'), PERMISSION_HINT, details),
    };
  if (code === 100) {
    // Subcode 33 is "object does not exist, cannot be loaded due to missing permissions, or does not support this operation".
    if (e.error_subcode !== 33 && /permission/i.test(text))
      return {
        stage: 'permission',
        failure: new ConnectionTestFailure('permission_missing', msg('The token lacks a permission for this phone number'), PERMISSION_HINT, details),
      };
    return {
      stage: 'permission',
      failure: new ConnectionTestFailure(
        'config_invalid',
        msg('No phone number with this id is visible to the token'),
        'Check the Phone number ID (WhatsApp Manager → API Setup; it is not the phone number itself), and that the token belongs to the WhatsApp Business Account that owns it.',
        { ...details, field: 'phoneNumberId' },
      ),
    };
  }
  if (code === 1 || code === 2 || status >= 500)
    return {
      stage: 'request',
      failure: new ConnectionTestFailure('provider_unavailable', msg(`The Graph API answered ${status}`), defaultHint('provider_unavailable'), details),
    };
  if (status === 429)
    return {
      stage: 'request',
      failure: new ConnectionTestFailure('rate_limited', msg('Meta is rate limiting this app or number'), defaultHint('rate_limited'), details),
    };
  if (status === 401 || e.type === 'OAuthException')
    return { stage: 'auth', failure: new ConnectionTestFailure('auth_invalid', msg('Meta rejected the access token'), defaultHint('auth_invalid'), details) };
  if (status === 403)
    return { stage: 'permission', failure: new ConnectionTestFailure('permission_missing', msg('Meta refused the request'), PERMISSION_HINT, details) };
  return {
    stage: 'permission',
    failure: new ConnectionTestFailure(
      'config_invalid',
      msg(`The Graph API refused the lookup (${status})`),
      'Check the Phone number ID and the access token.',
      { ...details, field: 'phoneNumberId' },
    ),
  };
}

/**
 * Looks the phone number up on the Graph API with the tenant's token: proves the token, that it can
 * read this number, and returns how the number shows to customers.
 */
export const whatsappChannel: Channel<typeof WhatsAppConfigSchema> = {
  schema: WhatsAppConfigSchema,
  summarize: (c) => ({ phoneNumberId: c.phoneNumberId }),
  async test(config, ctx) {
    const url = `${ctx.providers.whatsappGraphUrl}/${encodeURIComponent(config.phoneNumberId)}?fields=${FIELDS}`;

    const answer = await ctx.step(
      'request',
      async (): Promise<{ status: number; number?: PhoneNumber; refusal?: Refusal }> => {
        const res = await request(url, {
          method: 'GET',
          headers: { authorization: `Bearer ${config.accessToken}`, accept: 'application/json', 'user-agent': ctx.userAgent },
          signal: ctx.signal,
          headersTimeout: ctx.timeoutMs,
          bodyTimeout: ctx.timeoutMs,
        });
        const text = await res.body.text();
        let body: { error?: GraphError } & PhoneNumber = {};
        try {
          body = JSON.parse(text) as typeof body;
        } catch {
          // Not JSON: judged by the status alone.
        }
        if (res.statusCode >= 200 && res.statusCode < 300 && !body.error) return { status: res.statusCode, number: body };
        const refusal = graphFailure(res.statusCode, body.error ?? {});
        if (refusal.stage === 'request') throw refusal.failure;
        return { status: res.statusCode, refusal };
      },
      (a) => `HTTP ${a.status}`,
    );

    await ctx.step(
      'auth',
      async () => {
        if (answer.refusal?.stage === 'auth') throw answer.refusal.failure;
      },
      () => 'Token accepted',
    );

    const number = await ctx.step(
      'permission',
      async () => {
        if (answer.refusal) throw answer.refusal.failure;
        return answer.number ?? {};
      },
      (n) => (n.display_phone_number ? `Can read ${n.display_phone_number}` : undefined),
    );

    return {
      message: `Connected to WhatsApp number ${number.display_phone_number ?? config.phoneNumberId}${number.verified_name ? ` (${number.verified_name})` : ''}`,
      details: {
        phoneNumberId: config.phoneNumberId,
        displayPhoneNumber: number.display_phone_number,
        verifiedName: number.verified_name,
        qualityRating: number.quality_rating,
      },
    };
  },
};
