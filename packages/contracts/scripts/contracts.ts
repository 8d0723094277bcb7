// pnpm contracts:check  — fails when a contract changed in a way a deployed reader or writer would notice.
// pnpm contracts:snapshot — records the current contracts as the committed baseline (on purpose).
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkCompatibility, contractSnapshots, type ContractSnapshot } from '../src/compat.js';

const dir = process.env.CONTRACT_SNAPSHOT_DIR ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'snapshots');

function readCommitted(root: string): Record<string, ContractSnapshot> {
  const out: Record<string, ContractSnapshot> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = path.join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith('.json'))
        out[path.relative(root, full).slice(0, -'.json'.length).split(path.sep).join('/')] = JSON.parse(readFileSync(full, 'utf8'));
    }
  };
  try {
    walk(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return out;
}

const say = (line: string) => void process.stdout.write(`${line}\n`);

const command = process.argv[2];
const current = contractSnapshots();
if (command === 'snapshot') {
  rmSync(dir, { recursive: true, force: true });
  for (const [key, snap] of Object.entries(current)) {
    const file = path.join(dir, `${key}.json`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(snap, null, 2)}\n`);
  }
  say(`recorded ${Object.keys(current).length} contract snapshots in ${path.relative(process.cwd(), dir) || dir}`);
} else if (command === 'check') {
  const report = checkCompatibility(readCommitted(dir), current);
  for (const key of report.added) say(`added (additive): ${key}`);
  for (const key of report.changed) say(`changed compatibly: ${key}`);
  if (report.added.length + report.changed.length > 0) say('record these with `pnpm contracts:snapshot` (and commit the snapshots)');
  if (report.breaking.length > 0) {
    console.error(`\n${report.breaking.length} breaking contract change(s):`);
    for (const f of report.breaking) console.error(`  ${f.key}${f.path ? ` at ${f.path}` : ''}: ${f.problem}`);
    console.error('\nA change a deployed service would notice needs a new version beside the old one (docs/ARCHITECTURE.md §8).');
    console.error('If the old contract is really retired (no deployed service uses it), record that with `pnpm contracts:snapshot`.');
    process.exit(1);
  }
  say(`contracts compatible with the snapshots (${Object.keys(current).length} contracts)`);
} else {
  console.error('usage: contracts.ts check|snapshot');
  process.exit(2);
}
