/**
 * `pnpm mint-token --tenant t1 --user u1 --roles admin`: a dev JWT signed with JWT_SECRET, or, when that is
 * unset, with the secret the local start generated into .data/local-secrets.json. (Not `pnpm token`: pnpm 12
 * has a built-in of that name.)
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mintToken } from '@glavito/auth';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const localSecretsFile = path.join(root, '.data', 'local-secrets.json');

const { values } = parseArgs({
  options: {
    tenant: { type: 'string', default: 'demo-tenant' },
    user: { type: 'string', default: 'demo-admin' },
    roles: { type: 'string', default: 'admin' },
    expires: { type: 'string', default: process.env.JWT_EXPIRES_IN || '1h' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(`Mint a dev JWT (HS256):
  pnpm mint-token --tenant demo-tenant --user demo-admin --roles admin --expires 1h
Signed with JWT_SECRET when set, else with the local start's secret in ${path.relative(process.cwd(), localSecretsFile)}.`);
  process.exit(0);
}

function secretOf(): string | undefined {
  if (process.env.JWT_SECRET) return process.env.JWT_SECRET;
  if (!existsSync(localSecretsFile)) return undefined;
  return (JSON.parse(readFileSync(localSecretsFile, 'utf8')) as { JWT_SECRET?: string }).JWT_SECRET;
}

const secret = secretOf();
if (!secret || secret.length < 32) {
  console.error(`No signing secret: set JWT_SECRET (at least 32 characters), or run \`pnpm start\` once so that ${localSecretsFile} exists.`);
  process.exit(1);
}
console.log(mintToken({ secret, userId: values.user, tenantId: values.tenant, roles: values.roles.split(',').filter(Boolean), expiresIn: values.expires }));
