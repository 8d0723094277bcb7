import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';
import type { KeyPair } from './tls-certs.js';

/**
 * A private PostgreSQL server (its own data directory and port), for tests that must take the database
 * away and bring it back: a crash (SIGKILL of the postmaster), a fast shutdown, a restart in place.
 * Also a server that looks like a customer's: SCRAM passwords and SSL with a given certificate.
 * Everything else should use the shared server through `createTestDatabase`.
 *
 * Needs the PostgreSQL server binaries (initdb, postgres, pg_ctl): PG_BIN_DIR when set, else the
 * newest /usr/lib/postgresql/<version>/bin, else PATH. initdb refuses to run as root, so as root every
 * command runs as the `postgres` user through runuser, with a data directory owned by that user.
 */

export interface PostgresServerOptions {
  /** Default: a free port. */
  port?: number;
  /** How long to wait for the server to accept queries (default 30 s: crash recovery included). */
  startTimeoutMs?: number;
  /**
   * The superuser's password: TCP connections then need SCRAM-SHA-256 (`host … scram-sha-256` in
   * pg_hba.conf; the Unix socket stays trust). Default: trust everywhere, no password.
   */
  password?: string;
  /** Turns SSL on with this certificate (clients choose; pg_hba.conf accepts both). */
  ssl?: KeyPair;
  /** More server settings (`-c name=value`), e.g. `shared_preload_libraries` for a profiling benchmark. */
  settings?: Record<string, string>;
}

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication), with the password when one is set. */
  url: string;
  port: number;
  dataDir: string;
  /** Fast shutdown (`pg_ctl stop -m fast`): sessions are cut, the server exits cleanly. */
  stop(): Promise<void>;
  /** A crash: SIGKILL of the postmaster; its backends notice and exit. Resolved once every one is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory (after stop or kill), resolved once it answers queries. */
  start(): Promise<void>;
  /** Stops it (fast) and removes the data directory. */
  cleanup(): Promise<void>;
}

const RUN_AS = 'postgres';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** PG_BIN_DIR, else the newest /usr/lib/postgresql/<n>/bin holding `postgres`, else the directory of `postgres` on PATH. */
export function resolvePostgresBinDir(): string {
  const explicit = process.env.PG_BIN_DIR;
  if (explicit) {
    if (!isExecutable(path.join(explicit, 'postgres'))) throw new Error(`PG_BIN_DIR=${explicit} holds no executable postgres`);
    return explicit;
  }
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v) && isExecutable(path.join(root, v, 'bin', 'postgres')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(root, versions[0], 'bin');
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    if (isExecutable(path.join(dir, 'postgres')) && isExecutable(path.join(dir, 'initdb'))) return dir;
  }
  throw new Error('PostgreSQL server binaries (initdb, postgres, pg_ctl) not found: install postgresql (15+) or set PG_BIN_DIR');
}

const asRoot = () => process.getuid?.() === 0;

/** The command line, run as the postgres user when we are root. */
function command(bin: string, args: string[]): [string, string[]] {
  return asRoot() ? ['runuser', ['-u', RUN_AS, '--', bin, ...args]] : [bin, args];
}

function run(bin: string, args: string[]): void {
  const [cmd, argv] = command(bin, args);
  try {
    execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer; message: string };
    throw new Error(`${path.basename(bin)} failed: ${e.message}\n${e.stderr?.toString() ?? ''}${e.stdout?.toString() ?? ''}`.trim());
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Direct children of `pid` (Linux /proc; empty elsewhere). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const d of entries) {
    try {
      // The command name may hold spaces and parentheses: the ppid is the 2nd field after the last ')'.
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startPostgresServer(opts: PostgresServerOptions = {}): Promise<PostgresServer> {
  const binDir = resolvePostgresBinDir();
  const port = opts.port ?? (await freePort());
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'pg-test-'));
  const owner = asRoot()
    ? { uid: Number(execFileSync('id', ['-u', RUN_AS]).toString().trim()), gid: Number(execFileSync('id', ['-g', RUN_AS]).toString().trim()) }
    : null;
  if (owner) chownSync(dataDir, owner.uid, owner.gid);
  // Files the server reads (certificate, key, password file) belong to its user; the key must be 0600.
  const writeOwned = (file: string, content: string) => {
    writeFileSync(file, content, { mode: 0o600 });
    if (owner) chownSync(file, owner.uid, owner.gid);
  };
  const initdbArgs = ['-D', dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'];
  if (opts.password !== undefined) {
    // initdb wants an empty data directory: the password file lives next to it for a moment.
    const pwDir = mkdtempSync(path.join(tmpdir(), 'pg-test-pw-'));
    if (owner) chownSync(pwDir, owner.uid, owner.gid);
    const pwfile = path.join(pwDir, 'pwfile');
    writeOwned(pwfile, `${opts.password}\n`);
    try {
      run(path.join(binDir, 'initdb'), [...initdbArgs, '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`]);
    } finally {
      rmSync(pwDir, { recursive: true, force: true });
    }
  } else {
    run(path.join(binDir, 'initdb'), [...initdbArgs, '-A', 'trust']);
  }
  const sslArgs: string[] = [];
  if (opts.ssl) {
    writeOwned(path.join(dataDir, 'server.crt'), opts.ssl.cert);
    writeOwned(path.join(dataDir, 'server.key'), opts.ssl.key);
    sslArgs.push('-c', 'ssl=on', '-c', 'ssl_cert_file=server.crt', '-c', 'ssl_key_file=server.key');
  }

  const url = `postgres://postgres${opts.password !== undefined ? `:${encodeURIComponent(opts.password)}` : ''}@127.0.0.1:${port}/postgres`;
  let child: ChildProcess | null = null;
  let exit: Promise<void> = Promise.resolve();
  let output = '';

  const postmasterPid = (): number | null => {
    try {
      const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  };

  // A test worker that dies must not leave a server behind: its backends exit once the postmaster is gone.
  const reap = () => {
    const pid = postmasterPid();
    if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
  };
  process.on('exit', reap);

  async function answers(): Promise<boolean> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  }

  async function start(): Promise<void> {
    if (child && child.exitCode === null && child.signalCode === null) throw new Error(`postgres on port ${port} is already running`);
    const [cmd, argv] = command(path.join(binDir, 'postgres'), [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-h',
      '127.0.0.1',
      '-k',
      dataDir,
      // A killed process loses nothing the kernel already has; only an OS crash would need fsync.
      '-c',
      'fsync=off',
      '-c',
      'max_connections=200',
      '-c',
      'log_min_messages=warning',
      ...sslArgs,
      ...Object.entries(opts.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ]);
    output = '';
    const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    let spawnError: Error | undefined;
    proc.once('error', (err) => {
      spawnError = err;
    });
    exit = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + startTimeoutMs;
    while (!(await answers())) {
      const exited = proc.exitCode !== null || proc.signalCode !== null;
      if (spawnError || exited || Date.now() > deadline) {
        if (!exited) await killNow();
        const why = spawnError ? spawnError.message : exited ? `exited with code ${String(proc.exitCode)}` : 'did not answer in time';
        throw new Error(`postgres on 127.0.0.1:${port} (${dataDir}) failed to start: ${why}\n${output.trim()}`);
      }
      await sleep(100);
    }
  }

  async function killNow(): Promise<void> {
    const pid = postmasterPid();
    if (pid && alive(pid)) {
      const backends = childrenOf(pid);
      process.kill(pid, 'SIGKILL');
      // Backends and auxiliary processes notice the postmaster's death and exit by themselves; a new
      // postmaster refuses to start while any of them still holds the old shared memory.
      const deadline = Date.now() + 5000;
      while (backends.some(alive) && Date.now() < deadline) await sleep(50);
      for (const b of backends.filter(alive)) process.kill(b, 'SIGKILL');
      while (backends.some(alive)) await sleep(20);
    }
    if (child && child.exitCode === null && child.signalCode === null) {
      // The runuser wrapper (as root) exits once its child is gone; without a postmaster pid, kill it.
      if (!pid) child.kill('SIGKILL');
      await exit;
    }
  }

  async function stop(): Promise<void> {
    const running = child && child.exitCode === null && child.signalCode === null;
    if (!running) return;
    try {
      run(path.join(binDir, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30']);
    } catch (err) {
      // Last resort so a wedged server does not outlive the test run.
      await killNow();
      throw err;
    }
    await exit;
  }

  await start();

  return {
    url,
    port,
    dataDir,
    stop,
    kill: killNow,
    start,
    async cleanup() {
      try {
        await stop();
      } finally {
        process.removeListener('exit', reap);
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}
