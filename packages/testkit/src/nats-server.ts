import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestNats, type TestNats } from './index.js';
import { freePort, tcpAnswers } from './ports.js';

/**
 * A private nats-server child process, for tests that must take the broker away and bring it back
 * (outages, reconnects). Everything else should use the shared server through `createTestNats`.
 */

export interface NatsServerOptions {
  /** Default: a free port. Pass the port of a stopped server to restart it in place. */
  port?: number;
  /** JetStream store directory. Default: a new temp dir, which the caller removes when done. */
  storeDir?: string;
  /** How long to wait for the port to accept connections (default 10 s). */
  startTimeoutMs?: number;
  /** A member of a JetStream cluster: its name, its route port, the cluster's name and every member's route port. */
  cluster?: { serverName: string; port: number; name: string; routes: number[] };
  /** Serve the HTTP monitoring endpoints (/varz, /connz…) on a free port: `NatsServer.monitorUrl`. */
  monitor?: boolean;
}

export interface NatsServer {
  url: string;
  port: number;
  storeDir: string;
  /** The monitoring endpoints' base URL, when started with `monitor`. */
  monitorUrl?: string;
  /** Graceful: SIGTERM, then wait for the process to exit. */
  stop(): Promise<void>;
  /** A crash: SIGKILL, resolved once the process is gone (its port is free again). */
  kill(): Promise<void>;
}

const FALLBACK_BIN = '/usr/sbin/nats-server';
const STOP_TIMEOUT_MS = 10_000;

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** NATS_SERVER_BIN when set (must exist), else `nats-server` on PATH, else /usr/sbin/nats-server. */
export function resolveNatsServerBin(): string {
  const explicit = process.env.NATS_SERVER_BIN;
  const wanted = explicit ?? 'nats-server';
  if (wanted.includes(path.sep)) {
    if (isExecutable(wanted)) return wanted;
  } else {
    for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
      const candidate = path.join(dir, wanted);
      if (isExecutable(candidate)) return candidate;
    }
  }
  if (!explicit && isExecutable(FALLBACK_BIN)) return FALLBACK_BIN;
  throw new Error(
    explicit
      ? `NATS_SERVER_BIN=${explicit} is not an executable file`
      : `nats-server binary not found on PATH or at ${FALLBACK_BIN}: install nats-server (v2.9+) or set NATS_SERVER_BIN to its path`,
  );
}

/** Starts `nats-server -js` on 127.0.0.1 and resolves once its client port accepts connections. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = resolveNatsServerBin();
  const port = opts.port ?? (await freePort());
  const storeDir = opts.storeDir ?? mkdtempSync(path.join(tmpdir(), 'nats-js-'));
  const clusterArgs = opts.cluster
    ? [
        '--server_name',
        opts.cluster.serverName,
        '--cluster_name',
        opts.cluster.name,
        '--cluster',
        `nats://127.0.0.1:${opts.cluster.port}`,
        '--routes',
        opts.cluster.routes
          .filter((p) => p !== opts.cluster!.port)
          .map((p) => `nats://127.0.0.1:${p}`)
          .join(','),
      ]
    : [];
  const monitorPort = opts.monitor ? await freePort() : undefined;
  const monitorArgs = monitorPort ? ['-m', String(monitorPort)] : [];
  const child: ChildProcess = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...clusterArgs, ...monitorArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  // Kept for the error message when the server dies during start (port in use, bad store dir…).
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
  });
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  // A test worker that dies must not leave a broker behind.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  void exit.then(() => process.removeListener('exit', reap));

  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  while (!(await tcpAnswers('127.0.0.1', port, 250))) {
    if (spawnError || exited || Date.now() > deadline) {
      if (!exited) {
        child.kill('SIGKILL');
        await exit;
      }
      const why = spawnError ? spawnError.message : exited ? `exited with code ${String(child.exitCode)}` : 'did not accept connections in time';
      throw new Error(`nats-server (${bin}) on 127.0.0.1:${port} failed to start: ${why}\n${output.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    monitorUrl: monitorPort ? `http://127.0.0.1:${monitorPort}` : undefined,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        exit.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        // Last resort so a wedged server does not outlive the test run.
        child.kill('SIGKILL');
        await exit;
        throw new Error(`nats-server on port ${port} did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM; it was killed`);
      }
    },
    async kill() {
      if (exited) return;
      child.kill('SIGKILL');
      await exit;
    },
  };
}

/**
 * Like `createTestNats`, but against a given server (e.g. one from `startNatsServer`). The connection
 * reconnects forever, so it survives the outages such tests cause.
 */
export function createTestNatsAt(url: string, opts: { migrate?: boolean; broker?: Record<string, string> } = {}): Promise<TestNats> {
  return createTestNats({ url, reconnectForever: true, ...opts });
}

export interface NatsCluster {
  /** Every member's client URL, comma-separated (what NATS_URL takes). */
  url: string;
  servers: NatsServer[];
  /** SIGKILL of member `i`. */
  kill(i: number): Promise<void>;
  /** Starts member `i` again on its ports and store directory. */
  restart(i: number): Promise<void>;
  /** Index of the member named `serverName` (e.g. a stream's leader from streams.info().cluster.leader). */
  indexOf(serverName: string): number;
  stop(): Promise<void>;
}

/**
 * A JetStream cluster of `size` private nats-server processes on 127.0.0.1 (names n1..nN, routes between all,
 * each with its own store directory), resolved once every member accepts clients. JetStream itself needs a
 * moment more to elect its meta leader: callers wait for an API call to succeed.
 */
export async function startNatsCluster(opts: { size?: number; name?: string } = {}): Promise<NatsCluster> {
  const size = opts.size ?? 3;
  const clientPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const name = opts.name ?? `test_${Date.now().toString(36)}`;
  const member = (i: number, storeDir?: string): NatsServerOptions => ({
    port: clientPorts[i],
    storeDir,
    cluster: { serverName: `n${i + 1}`, port: routePorts[i]!, name, routes: routePorts },
  });
  const servers = await Promise.all(clientPorts.map((_, i) => startNatsServer(member(i))));
  return {
    url: servers.map((s) => s.url).join(','),
    servers,
    async kill(i) {
      await servers[i]!.kill();
    },
    async restart(i) {
      servers[i] = await startNatsServer(member(i, servers[i]!.storeDir));
    },
    indexOf(serverName) {
      const i = Number(/^n(\d+)$/.exec(serverName)?.[1]) - 1;
      if (!(i >= 0 && i < size)) throw new Error(`no cluster member named ${serverName}`);
      return i;
    },
    async stop() {
      await Promise.all(servers.map((s) => s.stop().catch(() => s.kill())));
    },
  };
}
