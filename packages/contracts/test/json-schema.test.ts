import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { stepDataJsonSchema, stepDataOpenApiSchema, type JsonSchema } from '../src/json-schema.js';
import { AGENT_WELCOME_STEPS, TENANT_SETUP_STEPS, type OnboardingType } from '../src/steps.js';
import { validateStepData } from '../src/validation.js';

// ajv-formats is CommonJS: its function is the default export's `default` under NodeNext typing.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
// Strict mode: an unknown keyword or format in a generated schema fails the test instead of being ignored.
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const compiled = new Map<string, ValidateFunction>();
function ajvAccepts(type: OnboardingType, stepId: string, data: unknown): boolean {
  const key = `${type}/${stepId}`;
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile(stepDataJsonSchema(type, stepId)!);
    compiled.set(key, validate);
  }
  return validate(data);
}

type Case = [description: string, data: unknown, valid: boolean];
const long = (n: number) => 'x'.repeat(n);
const day = { enabled: true, start: '09:00', end: '17:00' };

/** Per step: a valid sample first (reused for the unknown-field case), then cases around each rule. */
const CASES: Record<OnboardingType, Record<string, Case[]>> = {
  tenant_setup: {
    welcome: [
      ['acknowledged with goals', { acknowledged: true, goals: ['faster replies'] }, true],
      ['empty', {}, true],
      ['acknowledged not a boolean', { acknowledged: 'yes' }, false],
      ['21 goals', { goals: Array(21).fill('g') }, false],
      ['a goal of 201 characters', { goals: [long(201)] }, false],
    ],
    organization_setup: [
      [
        'every field',
        {
          companyName: 'Acme Support',
          primaryColor: '#1A2b3C',
          industry: 'Retail',
          companySize: '10-50',
          logoUrl: 'https://cdn.example.com/logo.png?v=2',
          timezone: 'Europe/Paris',
        },
        true,
      ],
      ['only the required fields', { companyName: 'Ac', primaryColor: '#000000' }, true],
      ['companyName missing', { primaryColor: '#000000' }, false],
      ['primaryColor missing', { companyName: 'Acme' }, false],
      ['companyName of one character', { companyName: 'A', primaryColor: '#000000' }, false],
      ['companyName of one character padded with blanks (trimmed by the server)', { companyName: '  A  ', primaryColor: '#000000' }, false],
      ['companyName of blanks only', { companyName: '      ', primaryColor: '#000000' }, false],
      ['companyName two words padded', { companyName: ' A B ', primaryColor: '#000000' }, true],
      ['companyName of 201 characters', { companyName: long(201), primaryColor: '#000000' }, false],
      ['primaryColor without #', { companyName: 'Acme', primaryColor: '112233' }, false],
      ['primaryColor of 3 digits', { companyName: 'Acme', primaryColor: '#123' }, false],
      ['companySize outside the enum', { companyName: 'Acme', primaryColor: '#000000', companySize: '11-20' }, false],
      ['industry blank', { companyName: 'Acme', primaryColor: '#000000', industry: '   ' }, false],
      ['logoUrl over http', { companyName: 'Acme', primaryColor: '#000000', logoUrl: 'http://cdn.example.com/logo.png' }, false],
      ['logoUrl relative', { companyName: 'Acme', primaryColor: '#000000', logoUrl: '/logo.png' }, false],
      ['logoUrl with a space', { companyName: 'Acme', primaryColor: '#000000', logoUrl: 'https://cdn.example.com/my logo.png' }, false],
      ['logoUrl javascript:', { companyName: 'Acme', primaryColor: '#000000', logoUrl: 'javascript:alert(1)' }, false],
      ['logoUrl with a percent-escape', { companyName: 'Acme', primaryColor: '#000000', logoUrl: 'https://cdn.example.com/my%20logo.png' }, true],
      ['logoUrl with a broken percent-escape', { companyName: 'Acme', primaryColor: '#000000', logoUrl: 'https://cdn.example.com/%zzlogo.png' }, false],
      ['timezone in lower case (accepted by the server)', { companyName: 'Acme', primaryColor: '#000000', timezone: 'europe/paris' }, true],
      ['timezone Etc/GMT+5', { companyName: 'Acme', primaryColor: '#000000', timezone: 'Etc/GMT+5' }, true],
      ['timezone with a trailing blank', { companyName: 'Acme', primaryColor: '#000000', timezone: 'Europe/Paris ' }, false],
      ['timezone as an offset', { companyName: 'Acme', primaryColor: '#000000', timezone: '+01:00' }, false],
      ['companyName a number', { companyName: 42, primaryColor: '#000000' }, false],
    ],
    channel_configuration: [
      [
        'email enabled with every field',
        {
          email: {
            enabled: true,
            address: 'help@acme.test',
            smtpHost: 'smtp.acme.test',
            smtpPort: 587,
            imapHost: 'imap.acme.test',
            imapPort: 993,
            username: 'help',
            password: 's3cret',
          },
        },
        true,
      ],
      ['webchat only', { webchat: { enabled: true, widgetColor: '#FFFFFF', greeting: 'Hi!' } }, true],
      ['one enabled, one disabled', { slack: { enabled: false }, teams: { enabled: true, clientSecret: 'x' } }, true],
      ['nothing at all (at_least_one_enabled)', {}, false],
      ['every channel disabled (at_least_one_enabled)', { email: { enabled: false }, slack: { enabled: false } }, false],
      ['a channel without enabled', { email: { address: 'help@acme.test' } }, false],
      ['enabled not a boolean', { email: { enabled: 'true' } }, false],
      ['bad email address', { email: { enabled: true, address: 'not-an-email' } }, false],
      ['port 0', { email: { enabled: true, smtpPort: 0 } }, false],
      ['port 65536', { email: { enabled: true, imapPort: 65536 } }, false],
      ['port not an integer', { email: { enabled: true, smtpPort: 25.5 } }, false],
      ['empty password', { email: { enabled: true, password: '' } }, false],
      ['unknown field inside a channel', { slack: { enabled: true, oauthToken: 'x' } }, false],
      ['unknown channel', { telegram: { enabled: true } }, false],
      ['bad widget color', { webchat: { enabled: true, widgetColor: 'red' } }, false],
    ],
    ai_configuration: [
      ['every field', { aiProvider: 'anthropic', model: 'claude', apiKey: 'sk-ant-x', features: ['summarization', 'smartRouting'] }, true],
      ['aiProvider missing', { features: [] }, false],
      ['aiProvider outside the enum', { aiProvider: 'mistral' }, false],
      ['unknown feature', { aiProvider: 'openai', features: ['telepathy'] }, false],
      ['11 features', { aiProvider: 'openai', features: Array(11).fill('summarization') }, false],
      ['empty apiKey', { aiProvider: 'openai', apiKey: '' }, false],
    ],
    knowledge_base: [
      [
        'categories and articles',
        { categories: ['Billing'], articles: [{ title: 'Refunds', content: 'How to…', category: 'Billing' }], importFromUrl: 'https://help.acme.test/' },
        true,
      ],
      ['empty', {}, true],
      ['article without content', { articles: [{ title: 'Refunds' }] }, false],
      ['article with a blank title', { articles: [{ title: '   ', content: 'x' }] }, false],
      ['article with an unknown field', { articles: [{ title: 'T', content: 'x', author: 'me' }] }, false],
      ['importFromUrl over ftp', { importFromUrl: 'ftp://help.acme.test/' }, false],
      ['101 categories', { categories: Array(101).fill('c') }, false],
    ],
    payment_setup: [
      ['a Stripe account', { stripeAccountId: 'acct_123ABC', currency: 'eur' }, true],
      ['skipped explicitly', { skipPaymentSetup: true }, true],
      ['account and skip false', { stripeAccountId: 'acct_1', skipPaymentSetup: false }, true],
      ['nothing (stripe_account_or_skip)', {}, false],
      ['skip false and no account (stripe_account_or_skip)', { skipPaymentSetup: false }, false],
      ['currency only (stripe_account_or_skip)', { currency: 'usd' }, false],
      ['bad account id', { stripeAccountId: 'acc_123' }, false],
      ['currency in upper case', { skipPaymentSetup: true, currency: 'EUR' }, false],
    ],
    team_management: [
      [
        'two members',
        {
          teamMembers: [
            { email: 'ana@acme.test', role: 'agent', name: 'Ana' },
            { email: 'bo@acme.test', role: 'supervisor' },
          ],
        },
        true,
      ],
      ['no members', {}, true],
      ['member without role', { teamMembers: [{ email: 'ana@acme.test' }] }, false],
      ['member with a bad email', { teamMembers: [{ email: 'ana', role: 'agent' }] }, false],
      ['member with an unknown role', { teamMembers: [{ email: 'ana@acme.test', role: 'owner' }] }, false],
      ['member with an unknown field', { teamMembers: [{ email: 'ana@acme.test', role: 'agent', phone: '1' }] }, false],
    ],
    workflow_configuration: [
      [
        'business hours, SLA and auto-assignment',
        {
          businessHours: {
            timezone: 'Europe/Paris',
            schedule: { monday: day, tuesday: { ...day, breaks: [{ start: '12:00', end: '13:00', name: 'Lunch' }] } },
            holidays: ['2026-12-25'],
          },
          slaTargets: { firstResponseMinutes: 60, resolutionMinutes: 1440 },
          autoAssignment: true,
        },
        true,
      ],
      ['holidays left out (defaulted by the server)', { businessHours: { timezone: 'UTC', schedule: { friday: day } } }, true],
      ['business hours without a schedule', { businessHours: { timezone: 'UTC' } }, false],
      ['a time that is not HH:mm', { businessHours: { timezone: 'UTC', schedule: { monday: { ...day, start: '9:00' } } } }, false],
      ['an unknown weekday', { businessHours: { timezone: 'UTC', schedule: { caturday: day } } }, false],
      ['a holiday that is not YYYY-MM-DD', { businessHours: { timezone: 'UTC', schedule: {}, holidays: ['25/12/2026'] } }, false],
      ['SLA of 0 minutes', { slaTargets: { firstResponseMinutes: 0 } }, false],
      ['SLA not an integer', { slaTargets: { resolutionMinutes: 1.5 } }, false],
      ['SLA with an unknown field', { slaTargets: { firstResponseMinutes: 5, reopenMinutes: 5 } }, false],
    ],
    customer_portal: [
      ['every field', { enabled: true, subdomain: 'acme-help', primaryColor: '#00FF00', showKnowledgeBase: true }, true],
      ['subdomain of 2 characters', { subdomain: 'ac' }, false],
      ['subdomain with upper case', { subdomain: 'Acme' }, false],
      ['subdomain ending with a dash', { subdomain: 'acme-' }, false],
    ],
    data_import: [
      ['a CSV file', { source: 'csv', fileUrl: 'https://files.acme.test/export.csv', importTickets: true, importCustomers: false }, true],
      ['unknown source', { source: 'excel' }, false],
      ['file URL over http', { fileUrl: 'http://files.acme.test/export.csv' }, false],
    ],
    analytics_setup: [
      ['every field', { reports: ['volume'], kpis: ['csat'], emailDigest: 'daily' }, true],
      ['digest outside the enum', { emailDigest: 'monthly' }, false],
      ['51 kpis', { kpis: Array(51).fill('k') }, false],
    ],
  },
  agent_welcome: {
    welcome: [['acknowledged', { acknowledged: true }, true]],
    profile_setup: [
      [
        'every field',
        { displayName: 'Ana Lima', timezone: 'America/Sao_Paulo', avatarUrl: 'https://cdn.acme.test/ana.png', jobTitle: 'Agent', languages: ['pt', 'en'] },
        true,
      ],
      ['displayName missing', { timezone: 'UTC' }, false],
      ['timezone missing', { displayName: 'Ana' }, false],
      ['displayName of one character', { displayName: 'A', timezone: 'UTC' }, false],
      ['displayName of 101 characters', { displayName: long(101), timezone: 'UTC' }, false],
      ['timezone with a space', { displayName: 'Ana', timezone: 'Europe/ Paris' }, false],
      ['avatarUrl over http', { displayName: 'Ana', timezone: 'UTC', avatarUrl: 'http://cdn.acme.test/ana.png' }, false],
      ['a language of 21 characters', { displayName: 'Ana', timezone: 'UTC', languages: [long(21)] }, false],
    ],
    team_assignment: [
      ['a team', { teamId: 'team-1', acknowledged: true }, true],
      ['teamId a number', { teamId: 1 }, false],
    ],
    permissions_overview: [
      ['acknowledged', { acknowledged: true }, true],
      ['acknowledged null', { acknowledged: null }, false],
    ],
    feature_tour: [
      ['sections seen', { completedSections: ['inbox', 'macros'], acknowledged: true }, true],
      ['sections not an array', { completedSections: 'inbox' }, false],
    ],
    test_ticket: [
      ['resolved', { ticketId: 'T-1', resolved: true }, true],
      ['resolved a string', { resolved: 'yes' }, false],
    ],
    notification_preferences: [
      ['every field', { email: true, push: false, desktop: true, digest: 'weekly' }, true],
      ['digest outside the enum', { digest: 'hourly' }, false],
    ],
    quick_start: [
      ['acknowledged', { acknowledged: false }, true],
      ['empty', {}, true],
    ],
  },
};

/**
 * What JSON Schema cannot say and the server still checks: here the server rejects and the JSON Schema
 * accepts. Listed so that the gap is known, and so that this test fails once it closes.
 */
const SERVER_ONLY: Array<[OnboardingType, string, string, unknown]> = [
  ['tenant_setup', 'organization_setup', 'a time zone that does not exist', { companyName: 'Acme', primaryColor: '#000000', timezone: 'Mars/Olympus' }],
  [
    'tenant_setup',
    'workflow_configuration',
    'a day that ends before it starts',
    { businessHours: { timezone: 'UTC', schedule: { monday: { enabled: true, start: '17:00', end: '09:00' } } } },
  ],
  [
    'tenant_setup',
    'workflow_configuration',
    'overlapping breaks',
    {
      businessHours: {
        timezone: 'UTC',
        schedule: {
          monday: {
            ...day,
            breaks: [
              { start: '12:00', end: '13:00' },
              { start: '12:30', end: '13:30' },
            ],
          },
        },
      },
    },
  ],
  [
    'tenant_setup',
    'workflow_configuration',
    'a holiday that is not a calendar date',
    { businessHours: { timezone: 'UTC', schedule: {}, holidays: ['2026-02-30'] } },
  ],
];

/** The other way round: JSON Schema has no trim, so a text at its maximum length padded with blanks is rejected by it only. */
const SCHEMA_ONLY: Array<[OnboardingType, string, string, unknown]> = [
  ['tenant_setup', 'organization_setup', 'a name of 199 characters padded with blanks', { companyName: ` ${long(199)}  `, primaryColor: '#000000' }],
];

const STEPS: Array<[OnboardingType, string]> = [
  ...TENANT_SETUP_STEPS.map((s) => ['tenant_setup', s.id] as [OnboardingType, string]),
  ...AGENT_WELCOME_STEPS.map((s) => ['agent_welcome', s.id] as [OnboardingType, string]),
];

describe('stepDataJsonSchema', () => {
  it('has cases for every step of both flows', () => {
    for (const [type, stepId] of STEPS) expect(CASES[type][stepId], `${type}/${stepId}`).toBeDefined();
    expect(Object.keys(CASES.tenant_setup)).toEqual(TENANT_SETUP_STEPS.map((s) => s.id));
    expect(Object.keys(CASES.agent_welcome)).toEqual(AGENT_WELCOME_STEPS.map((s) => s.id));
  });

  describe.each(STEPS)('%s / %s: Ajv and the server agree', (type, stepId) => {
    const cases = CASES[type][stepId]!;
    const [, valid] = cases[0]!;
    const table: Case[] = [
      ...cases,
      ['the valid sample plus an unknown field', { ...(valid as object), unknownField: 1 }, false],
      ['not an object', ['a'], false],
    ];
    it.each(table)('%s', (_description, data, expected) => {
      const server = validateStepData(type, stepId, data);
      expect(server.isValid, JSON.stringify(server.errors)).toBe(expected);
      expect(ajvAccepts(type, stepId, data), JSON.stringify(compiled.get(`${type}/${stepId}`)?.errors)).toBe(expected);
    });
  });

  it.each(SERVER_ONLY)('%s / %s: server only: %s', (type, stepId, _description, data) => {
    expect(validateStepData(type, stepId, data).isValid).toBe(false);
    expect(ajvAccepts(type, stepId, data)).toBe(true);
  });

  it.each(SCHEMA_ONLY)('%s / %s: JSON Schema only: %s', (type, stepId, _description, data) => {
    expect(validateStepData(type, stepId, data).isValid).toBe(true);
    expect(ajvAccepts(type, stepId, data)).toBe(false);
  });

  it('requires organization_setup fields and describes them for a form', () => {
    const schema = stepDataJsonSchema('tenant_setup', 'organization_setup')!;
    expect(schema).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      additionalProperties: false,
      required: ['companyName', 'primaryColor'],
    });
    expect(schema.properties?.companyName).toMatchObject({ type: 'string', title: 'Company name', minLength: 2, maxLength: 200 });
    expect(schema.properties?.logoUrl).toMatchObject({ format: 'uri', pattern: expect.stringMatching(/^\^https:\/\//) });
    expect(schema.properties?.companySize?.enum).toEqual(['1-10', '10-50', '50-200', '200-1000', '1000+']);
  });

  it('marks every credential field as a write-only password and nothing else', () => {
    const secrets: string[] = [];
    const walk = (node: JsonSchema, path: string) => {
      for (const [name, prop] of Object.entries(node.properties ?? {})) {
        if (prop.writeOnly === true) {
          expect(prop.format, `${path}${name}`).toBe('password');
          secrets.push(`${path}${name}`);
        }
        walk(prop, `${path}${name}.`);
        if (prop.items) walk(prop.items, `${path}${name}[].`);
      }
    };
    for (const [type, stepId] of STEPS) walk(stepDataJsonSchema(type, stepId)!, `${stepId}:`);
    expect(secrets.sort()).toEqual(
      [
        'channel_configuration:email.password',
        'channel_configuration:whatsapp.accessToken',
        'channel_configuration:instagram.accessToken',
        'channel_configuration:slack.botToken',
        'channel_configuration:slack.signingSecret',
        'channel_configuration:teams.clientSecret',
        'ai_configuration:apiKey',
      ].sort(),
    );
  });

  it('states the two cross-field rules as anyOf', () => {
    expect(stepDataJsonSchema('tenant_setup', 'payment_setup')!.anyOf).toHaveLength(2);
    expect(stepDataJsonSchema('tenant_setup', 'channel_configuration')!.anyOf).toHaveLength(6);
  });

  it.each(STEPS)('%s / %s carries a valid example, accepted by both', (type, stepId) => {
    const [example] = (stepDataJsonSchema(type, stepId)!.examples as unknown[] | undefined) ?? [];
    expect(example).toBeDefined();
    expect(validateStepData(type, stepId, example).isValid).toBe(true);
    expect(ajvAccepts(type, stepId, example)).toBe(true);
  });

  it.each(STEPS)('%s / %s as an OpenAPI 3.0 schema: example, no examples, const or $schema', (type, stepId) => {
    const schema = stepDataOpenApiSchema(type, stepId)!;
    const text = JSON.stringify(schema);
    expect(text).not.toMatch(/"(examples|const|\$schema)":/);
    expect(schema.example).toEqual((stepDataJsonSchema(type, stepId)!.examples as unknown[])[0]);
  });

  it('is computed once and cannot be changed by a caller', () => {
    const a = stepDataJsonSchema('tenant_setup', 'organization_setup')!;
    expect(stepDataJsonSchema('tenant_setup', 'organization_setup')).toBe(a);
    expect(Object.isFrozen(a.properties)).toBe(true);
    expect(stepDataJsonSchema('tenant_setup', 'profile_setup')).toBeUndefined();
  });
});
