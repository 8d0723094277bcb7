#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { mintToken } from './index.js';

const { values } = parseArgs({
  options: {
    tenant: { type: 'string', default: 'demo-tenant' },
    user: { type: 'string', default: 'demo-admin' },
    roles: { type: 'string', default: 'admin' },
    expires: { type: 'string', default: process.env.JWT_EXPIRES_IN ?? '1h' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(
    'Mint a dev JWT (HS256, JWT_SECRET from env):\n  pnpm --filter @glavito/auth run mint-token --tenant demo-tenant --user demo-admin --roles admin --expires 1h',
  );
  process.exit(0);
}
const secret = process.env.JWT_SECRET;
if (!secret || secret.length < 32) {
  console.error('JWT_SECRET must be set (at least 32 characters) to mint a token.');
  process.exit(1);
}
console.log(mintToken({ secret, userId: values.user, tenantId: values.tenant, roles: values.roles.split(',').filter(Boolean), expiresIn: values.expires }));
