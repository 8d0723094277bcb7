import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Runs a script against the logger in its own process; resolves with its stdout lines and when each arrived. */
function runScript(script: string): Promise<Array<{ at: number; line: Record<string, unknown> }>> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: pkg,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: Array<{ at: number; line: Record<string, unknown> }> = [];
    let rest = '';
    child.stdout.on('data', (d: Buffer) => {
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop()!;
      for (const p of parts) if (p) lines.push({ at: Date.now() - t0, line: JSON.parse(p) as Record<string, unknown> });
    });
    child.once('error', reject);
    child.once('exit', () => resolve(lines));
  });
}

describe('buffered stdout', () => {
  it('writes every line, the last ones when the process exits', async () => {
    const lines = await runScript(`
      const { createLogger } = await import('./src/index.ts');
      const log = createLogger('t');
      for (let i = 0; i < 500; i++) log.info({ i }, 'line');
      log.info('last');
      process.exit(0);
    `);
    expect(lines.map((l) => l.line.i ?? l.line.msg)).toEqual([...Array.from({ length: 500 }, (_, i) => i), 'last']);
  });

  it('a quiet process still gets its line out within the flush interval', async () => {
    const lines = await runScript(`
      const { createLogger } = await import('./src/index.ts');
      const log = createLogger('t');
      log.info('alone');
      // Stays alive 5 s: the line must come out before that, from the periodic flush.
      setTimeout(() => log.info('bye'), 5000);
    `);
    expect(lines.map((l) => l.line.msg)).toEqual(['alone', 'bye']);
    expect(lines[0]!.at).toBeLessThan(lines[1]!.at - 2000);
  });

  it('an error line goes out at once, with the info lines before it', async () => {
    const lines = await runScript(`
      const { createLogger } = await import('./src/index.ts');
      const log = createLogger('t');
      log.info('before');
      log.error('failed');
      // The main thread busy for 3 s: no timer can flush meanwhile, only a write already handed to libuv goes out.
      const until = Date.now() + 3000;
      while (Date.now() < until);
      log.info('bye');
      process.exit(0);
    `);
    expect(lines.map((l) => l.line.msg)).toEqual(['before', 'failed', 'bye']);
    expect(lines[1]!.at).toBeLessThan(lines[2]!.at - 1500);
  });
});
