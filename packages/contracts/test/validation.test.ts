import { describe, expect, it } from 'vitest';
import { validateStepData } from '../src/validation.js';

const makeOrganization = (overrides: Record<string, unknown> = {}) => ({ companyName: 'Acme Support', primaryColor: '#1A2b3C', ...overrides });
const org = (data: unknown) => validateStepData('tenant_setup', 'organization_setup', data);

describe('validateStepData: organization_setup', () => {
  it('accepts valid data and returns it trimmed', () => {
    expect(
      org(
        makeOrganization({
          companyName: '  Acme  ',
          companySize: '10-50',
          logoUrl: 'https://cdn.example.com/logo.png',
          timezone: 'Europe/Paris',
          industry: 'Retail',
        }),
      ),
    ).toEqual({
      isValid: true,
      errors: [],
      warnings: [],
      data: {
        companyName: 'Acme',
        primaryColor: '#1A2b3C',
        companySize: '10-50',
        logoUrl: 'https://cdn.example.com/logo.png',
        timezone: 'Europe/Paris',
        industry: 'Retail',
      },
    });
  });

  it('requires companyName and primaryColor', () => {
    expect(org({})).toEqual({
      isValid: false,
      errors: [
        { field: 'companyName', rule: 'required', message: 'companyName is required' },
        { field: 'primaryColor', rule: 'required', message: 'primaryColor is required' },
      ],
      warnings: [],
    });
    expect(org({ primaryColor: '#000000' }).errors).toEqual([{ field: 'companyName', rule: 'required', message: 'companyName is required' }]);
  });

  it('rejects a one-character company name, also after trimming', () => {
    const expected = [{ field: 'companyName', rule: 'min_length', message: 'companyName must be at least 2 characters' }];
    expect(org(makeOrganization({ companyName: 'A' })).errors).toEqual(expected);
    expect(org(makeOrganization({ companyName: '  A  ' })).errors).toEqual(expected);
  });

  it('rejects a company name of the wrong type', () => {
    expect(org(makeOrganization({ companyName: 42 })).errors).toEqual([{ field: 'companyName', rule: 'type', message: 'companyName must be a string' }]);
  });

  it.each(['blue', '#12345', '#1234567', '123456', '#GGGGGG'])('rejects primaryColor %s', (primaryColor) => {
    expect(org(makeOrganization({ primaryColor }))).toEqual({
      isValid: false,
      errors: [{ field: 'primaryColor', rule: 'format', message: 'primaryColor format is invalid' }],
      warnings: [],
    });
  });

  it('rejects an unknown field and names it', () => {
    expect(org(makeOrganization({ website: 'https://acme.example' })).errors).toEqual([
      { field: 'website', rule: 'unknown_field', message: 'website is not an accepted field' },
    ]);
  });

  it.each(['Mars/Olympus_Mons', 'Europe/Pariss', ''])('rejects timezone %j', (timezone) => {
    expect(org(makeOrganization({ timezone })).errors).toEqual([
      { field: 'timezone', rule: 'iana_timezone', message: 'timezone must be a valid IANA time zone' },
    ]);
  });

  it.each(['http://cdn.example.com/logo.png', 'ftp://cdn.example.com/logo.png', 'not a url', 'javascript:alert(1)'])('rejects logoUrl %s', (logoUrl) => {
    expect(org(makeOrganization({ logoUrl })).errors).toEqual([{ field: 'logoUrl', rule: 'https_url', message: 'logoUrl must be an https URL' }]);
  });

  it('rejects a companySize outside the enum', () => {
    expect(org(makeOrganization({ companySize: '5' })).errors).toEqual([
      { field: 'companySize', rule: 'enum', message: 'companySize must be one of 1-10, 10-50, 50-200, 200-1000, 1000+' },
    ]);
  });

  it('reports every problem at once', () => {
    expect(org({ companyName: 'A', primaryColor: 'red', timezone: 'Nowhere/Land', logoUrl: 'http://x.example', extra: true }).errors).toEqual([
      { field: 'companyName', rule: 'min_length', message: 'companyName must be at least 2 characters' },
      { field: 'primaryColor', rule: 'format', message: 'primaryColor format is invalid' },
      { field: 'logoUrl', rule: 'https_url', message: 'logoUrl must be an https URL' },
      { field: 'timezone', rule: 'iana_timezone', message: 'timezone must be a valid IANA time zone' },
      { field: 'extra', rule: 'unknown_field', message: 'extra is not an accepted field' },
    ]);
  });
});

describe('validateStepData: channel_configuration', () => {
  const channels = (data: unknown) => validateStepData('tenant_setup', 'channel_configuration', data);
  const noneEnabled = {
    isValid: false,
    errors: [
      {
        field: 'channels',
        rule: 'at_least_one_enabled',
        message: 'At least one communication channel must be enabled (email, whatsapp, instagram, slack, teams or webchat)',
      },
    ],
    warnings: [],
  };

  it('needs at least one enabled channel', () => {
    expect(channels({})).toEqual(noneEnabled);
    expect(channels({ email: { enabled: false }, slack: { enabled: false } })).toEqual(noneEnabled);
  });

  it('accepts one enabled channel', () => {
    expect(channels({ email: { enabled: false }, webchat: { enabled: true, widgetColor: '#ffffff' } })).toEqual({
      isValid: true,
      errors: [],
      warnings: [],
      data: { email: { enabled: false }, webchat: { enabled: true, widgetColor: '#ffffff' } },
    });
  });

  it('validates nested channel fields with their dotted path', () => {
    expect(channels({ email: { enabled: true, smtpPort: 70000 } }).errors).toEqual([
      { field: 'email.smtpPort', rule: 'max', message: 'email.smtpPort must be at most 65535' },
    ]);
    expect(channels({ sms: { enabled: true } }).errors).toEqual([
      { field: 'sms', rule: 'unknown_field', message: 'sms is not an accepted field' },
      noneEnabled.errors[0],
    ]);
  });
});

describe('validateStepData: ai_configuration', () => {
  const ai = (data: unknown) => validateStepData('tenant_setup', 'ai_configuration', data);

  it('warns when no features are selected', () => {
    const warning = ['No AI features selected - you can configure these later'];
    expect(ai({ aiProvider: 'openai' })).toEqual({ isValid: true, errors: [], warnings: warning, data: { aiProvider: 'openai' } });
    expect(ai({ aiProvider: 'anthropic', features: [] })).toMatchObject({ isValid: true, warnings: warning });
  });

  it('does not warn when features are selected', () => {
    expect(ai({ aiProvider: 'google', features: ['summarization'] })).toMatchObject({ isValid: true, warnings: [] });
  });

  it('requires a known provider and known features', () => {
    expect(ai({}).errors).toEqual([{ field: 'aiProvider', rule: 'required', message: 'aiProvider is required' }]);
    expect(ai({ aiProvider: 'mistral' }).errors).toEqual([
      { field: 'aiProvider', rule: 'enum', message: 'aiProvider must be one of openai, anthropic, google' },
    ]);
    expect(ai({ aiProvider: 'openai', features: ['mindReading'] }).errors).toEqual([
      {
        field: 'features.0',
        rule: 'enum',
        message: 'features.0 must be one of ticketClassification, sentimentAnalysis, autoResponse, smartRouting, summarization',
      },
    ]);
  });
});

describe('validateStepData: payment_setup', () => {
  const payment = (data: unknown) => validateStepData('tenant_setup', 'payment_setup', data);
  const missing = [
    {
      field: 'stripeAccountId',
      rule: 'stripe_account_or_skip',
      message: 'Payment setup is required or must be explicitly skipped (stripeAccountId or skipPaymentSetup: true)',
    },
  ];

  it('accepts a Stripe account id or an explicit skip', () => {
    expect(payment({ stripeAccountId: 'acct_1AbC23' })).toMatchObject({ isValid: true, errors: [], warnings: [] });
    expect(payment({ skipPaymentSetup: true })).toMatchObject({ isValid: true, errors: [], warnings: [] });
  });

  it('rejects neither, or a skip set to false', () => {
    expect(payment({})).toEqual({ isValid: false, errors: missing, warnings: [] });
    expect(payment({ skipPaymentSetup: false, currency: 'eur' }).errors).toEqual(missing);
  });

  it('rejects an account id without the acct_ prefix', () => {
    expect(payment({ stripeAccountId: 'cus_123' }).errors).toEqual([
      { field: 'stripeAccountId', rule: 'format', message: 'stripeAccountId format is invalid' },
    ]);
  });
});

describe('validateStepData: team_management', () => {
  const team = (data: unknown) => validateStepData('tenant_setup', 'team_management', data);
  const warning = ['No team members invited yet - you can invite them later'];

  it('rejects an invalid email with the element path', () => {
    expect(
      team({
        teamMembers: [
          { email: 'ok@example.com', role: 'agent' },
          { email: 'not-an-email', role: 'admin' },
        ],
      }),
    ).toEqual({
      isValid: false,
      errors: [{ field: 'teamMembers.1.email', rule: 'email', message: 'teamMembers.1.email format is invalid (expected an email address)' }],
      warnings: [],
    });
    expect(team({ teamMembers: [{ email: 'nope', role: 'agent' }] }).errors).toEqual([
      { field: 'teamMembers.0.email', rule: 'email', message: 'teamMembers.0.email format is invalid (expected an email address)' },
    ]);
  });

  it('requires a role for each member', () => {
    expect(team({ teamMembers: [{ email: 'a@example.com' }] }).errors).toEqual([
      { field: 'teamMembers.0.role', rule: 'required', message: 'teamMembers.0.role is required' },
    ]);
  });

  it('warns on an empty or absent list', () => {
    expect(team({ teamMembers: [] })).toEqual({ isValid: true, errors: [], warnings: warning, data: { teamMembers: [] } });
    expect(team({})).toEqual({ isValid: true, errors: [], warnings: warning, data: {} });
  });

  it('accepts valid members without warnings', () => {
    expect(team({ teamMembers: [{ email: 'lea@example.com', role: 'supervisor', name: 'Léa' }] })).toMatchObject({ isValid: true, warnings: [] });
  });
});

describe('validateStepData: profile_setup (agent)', () => {
  const profile = (data: unknown) => validateStepData('agent_welcome', 'profile_setup', data);

  it('accepts a display name and time zone', () => {
    expect(profile({ displayName: ' Jo ', timezone: 'America/New_York' })).toEqual({
      isValid: true,
      errors: [],
      warnings: [],
      data: { displayName: 'Jo', timezone: 'America/New_York' },
    });
  });

  it('requires displayName and timezone', () => {
    expect(profile({}).errors).toEqual([
      { field: 'displayName', rule: 'required', message: 'displayName is required' },
      { field: 'timezone', rule: 'required', message: 'timezone is required' },
    ]);
  });

  it('rejects a short name, a bad zone and a non-https avatar', () => {
    expect(profile({ displayName: 'J', timezone: 'Moon/Tranquility', avatarUrl: 'http://img.example/a.png' }).errors).toEqual([
      { field: 'displayName', rule: 'min_length', message: 'displayName must be at least 2 characters' },
      { field: 'timezone', rule: 'iana_timezone', message: 'timezone must be a valid IANA time zone' },
      { field: 'avatarUrl', rule: 'https_url', message: 'avatarUrl must be an https URL' },
    ]);
  });
});

describe('validateStepData: general', () => {
  const notAnObject = { isValid: false, errors: [{ field: '', rule: 'type', message: 'step data must be a JSON object' }], warnings: [] };

  it.each([null, undefined, 'text', 42, true, []])('rejects data %j that is not an object', (data) => {
    expect(validateStepData('tenant_setup', 'welcome', data)).toEqual(notAnObject);
  });

  it('rejects a step that does not belong to the onboarding type', () => {
    expect(validateStepData('tenant_setup', 'profile_setup', {})).toEqual({
      isValid: false,
      errors: [{ field: 'stepId', rule: 'unknown_step', message: 'Unknown step profile_setup for tenant_setup' }],
      warnings: [],
    });
    expect(validateStepData('agent_welcome', 'toString', {}).errors[0]?.rule).toBe('unknown_step');
  });

  it('warns when a step is completed without configuration', () => {
    expect(validateStepData('tenant_setup', 'welcome', {})).toEqual({
      isValid: true,
      errors: [],
      warnings: ['Step completed without configuration - you can update settings later'],
      data: {},
    });
    expect(validateStepData('agent_welcome', 'quick_start', { acknowledged: true })).toEqual({
      isValid: true,
      errors: [],
      warnings: [],
      data: { acknowledged: true },
    });
  });
});
