import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Certificates for tests, made by the openssl CLI: a private CA, certificates it signs, and self-signed
 * ones. EC P-256 keys: fast to generate, accepted by Postfix, Dovecot, PostgreSQL and Node.
 */

export interface KeyPair {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (unencrypted). */
  key: string;
}

export interface TestCa extends KeyPair {
  /** A certificate for `hosts` (DNS names or IP addresses) signed by this CA. */
  issue(hosts: string[], opts?: { days?: number }): KeyPair;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.message}\n${e.stderr?.toString() ?? ''}`.trim());
  }
}

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(path.join(tmpdir(), 'test-certs-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const subjectAltName = (hosts: string[]) => hosts.map((h) => (net.isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Whether the openssl CLI is on PATH (every launcher here needs it). */
export function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A self-signed server certificate for `hosts` (the first one is the CN). */
export function selfSignedCertificate(hosts: string[], opts: { days?: number } = {}): KeyPair {
  return withTempDir((dir) => {
    openssl(
      [
        'req',
        '-x509',
        ...KEY_ARGS,
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
        '-days',
        String(opts.days ?? 2),
        '-subj',
        `/CN=${hosts[0] ?? 'localhost'}`,
        '-addext',
        `subjectAltName=${subjectAltName(hosts)}`,
      ],
      dir,
    );
    return { cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8'), key: readFileSync(path.join(dir, 'key.pem'), 'utf8') };
  });
}

/** A private certificate authority (never trusted by the system) that issues server certificates. */
export function createTestCa(name = 'Glavito Test CA'): TestCa {
  const ca = withTempDir((dir) => {
    openssl(
      [
        'req',
        '-x509',
        ...KEY_ARGS,
        '-keyout',
        'ca.key',
        '-out',
        'ca.pem',
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
    return { cert: readFileSync(path.join(dir, 'ca.pem'), 'utf8'), key: readFileSync(path.join(dir, 'ca.key'), 'utf8') };
  });
  let serial = 1;
  return {
    ...ca,
    issue(hosts, opts = {}) {
      return withTempDir((dir) => {
        writeFileSync(path.join(dir, 'ca.pem'), ca.cert);
        writeFileSync(path.join(dir, 'ca.key'), ca.key, { mode: 0o600 });
        writeFileSync(
          path.join(dir, 'ext.cnf'),
          `subjectAltName=${subjectAltName(hosts)}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
        );
        openssl(['req', '-new', ...KEY_ARGS, '-keyout', 'key.pem', '-out', 'req.csr', '-subj', `/CN=${hosts[0] ?? 'localhost'}`], dir);
        openssl(
          [
            'x509',
            '-req',
            '-in',
            'req.csr',
            '-CA',
            'ca.pem',
            '-CAkey',
            'ca.key',
            '-set_serial',
            String(serial++ + Date.now()),
            '-days',
            String(opts.days ?? 2),
            '-extfile',
            'ext.cnf',
            '-out',
            'cert.pem',
          ],
          dir,
        );
        return { cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8'), key: readFileSync(path.join(dir, 'key.pem'), 'utf8') };
      });
    },
  };
}
