// Builds @glavito/client as a published package is built: its dist (JS + .d.ts) imports @glavito/contracts
// through that package's own exports (`default` → dist), never its sources. So the workspace packages it
// depends on are built first when their dist is missing or older than their sources (a fresh clone), and
// left alone when fresh (e.g. turbo built them just before, while other builds may be reading them).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: 'inherit' });

function newest(path) {
  const s = statSync(path, { throwIfNoEntry: false });
  if (!s) return 0;
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(s.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

for (const [name, range] of Object.entries(pkg.dependencies ?? {})) {
  if (!String(range).startsWith('workspace:')) continue;
  // pnpm links the workspace package into node_modules.
  const dir = realpathSync(join(root, 'node_modules', name));
  const built = statSync(join(dir, 'dist', 'index.js'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const sources = Math.max(newest(join(dir, 'src')), ...['package.json', 'tsconfig.json', 'tsconfig.build.json'].map((f) => newest(join(dir, f))));
  if (built > sources) continue;
  process.stderr.write(`building ${name} first (its dist is ${built ? 'older than its sources' : 'missing'})\n`);
  run('pnpm', ['run', 'build'], dir);
}

rmSync(join(root, 'dist'), { recursive: true, force: true });
run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], root);
