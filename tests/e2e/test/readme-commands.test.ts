import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createPrincipalVerifier } from '@glavito/auth';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const secret = 'readme-test-secret-0123456789-abcdefghij';

describe("the README's commands, as a new user types them", () => {
  it('the token command is one pnpm runs as a script (pnpm 12 has a `token` built-in), and its token verifies', async () => {
    const command = /`(?:JWT_SECRET=\S+ )?(pnpm [\w-]+) --tenant (\S+) --user (\S+) --roles (\S+)`/.exec(readme);
    expect(command, 'README names a token command').not.toBeNull();
    const [, pnpmCommand, tenant, user, roles] = command!;
    const [, script] = pnpmCommand!.split(' ');
    const { stdout } = await run('pnpm', [script!, '--tenant', tenant!, '--user', user!, '--roles', roles!], {
      cwd: root,
      env: { ...process.env, JWT_SECRET: secret },
    });
    const principal = createPrincipalVerifier(secret)(stdout.trim().split('\n').at(-1)!);
    expect(principal).toMatchObject({ tenantId: tenant, userId: user });
    expect(principal.roles).toEqual(roles!.split(','));
  });

  it('links an architecture document that exists inside the repository', () => {
    const links = [...readme.matchAll(/\]\(([^)]*ARCHITECTURE\.md)\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) {
      const target = path.resolve(root, link);
      expect(target.startsWith(root + path.sep), `${link} stays inside the repository`).toBe(true);
      expect(() => readFileSync(target, 'utf8')).not.toThrow();
    }
  });
});
