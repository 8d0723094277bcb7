import { existsSync, mkdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const consoleDist = path.join(repoRoot, 'apps', 'console', 'dist');
export const outputDir = path.join(repoRoot, 'tests', 'browser', 'output');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

export interface StaticServer {
  origin: string;
  close(): Promise<void>;
}

/**
 * Serves the built console at /console/ on its own origin, as a static host would, with a CSP as strict as
 * the gateway's for scripts and stricter for styles: an inline script or style attribute would show up as
 * a violation in the page.
 */
export async function serveConsole(gatewayOrigin: () => string): Promise<StaticServer> {
  const server = http.createServer((req, res) => {
    void (async () => {
      const api = gatewayOrigin();
      const csp = `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ${api} ${api.replace(/^http/, 'ws')}; frame-ancestors 'none'`;
      const url = new URL(req.url ?? '/', 'http://x');
      if (!url.pathname.startsWith('/console/')) {
        res.writeHead(302, { location: '/console/' }).end();
        return;
      }
      const rel = decodeURIComponent(url.pathname.slice('/console/'.length)) || 'index.html';
      let file = path.join(consoleDist, rel);
      if (!file.startsWith(consoleDist + path.sep) || !(await stat(file).catch(() => null))?.isFile()) file = path.join(consoleDist, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'content-security-policy': csp,
        'cache-control': 'no-store',
      });
      res.end(body);
    })().catch((err: unknown) => {
      res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function chromiumPath(): string {
  const p = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!existsSync(p)) throw new Error(`Chromium not found at ${p}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  return p;
}

/** Debian's Chromium, headless, with nothing that phones home (this machine's network is closed). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    chromiumSandbox: false,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

export interface PageProblems {
  /** Uncaught exceptions and CSP violations: any is a bug in the console. */
  errors: string[];
}

export async function openPage(browser: Browser): Promise<{ page: Page; problems: PageProblems; close(): Promise<void> }> {
  // A new context per scenario: its own storage, like a fresh browser profile.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const problems: PageProblems = { errors: [] };
  page.on('pageerror', (err) => problems.errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) problems.errors.push(`csp: ${msg.text()}`);
  });
  return { page, problems, close: () => context.close() };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(outputDir, { recursive: true });
  const file = path.join(outputDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export const byTestId = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);

/** Waits until the element with this test id shows exactly `text` (or matches it). */
export async function waitForText(page: Page, testId: string, text: string | RegExp, timeout = 20_000): Promise<void> {
  await page.waitForFunction(
    ([id, source, flags]) => {
      const el = document.querySelector(`[data-testid="${id}"]`);
      const value = el?.textContent?.trim() ?? null;
      if (value === null) return false;
      return flags === null ? value === source : new RegExp(source, flags).test(value);
    },
    typeof text === 'string' ? ([testId, text, null] as const) : ([testId, text.source, text.flags] as const),
    { timeout },
  );
}

export async function waitForAttr(page: Page, testId: string, attr: string, value: string, timeout = 20_000): Promise<void> {
  await page.waitForFunction(([id, a, v]) => document.querySelector(`[data-testid="${id}"]`)?.getAttribute(a) === v, [testId, attr, value] as const, {
    timeout,
  });
}
