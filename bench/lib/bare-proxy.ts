/**
 * The least a Node reverse proxy can do, as a reference for the gateway benchmark: node:http in, an undici
 * keep-alive pool out, the answer read whole and written back. No auth, rate limit, CORS, security headers,
 * logging or metrics, so it is NOT a gateway; it shows what the extra hop itself costs on this machine.
 * Run: node bench/lib/bare-proxy.ts <port> <upstream base URL>   (prints "listening <port>")
 */
import http from 'node:http';
import { Pool } from 'undici';

const [port, upstream] = [Number(process.argv[2] ?? 0), process.argv[3]!];
const pool = new Pool(upstream, { connections: 128 });
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'te', 'trailer', 'proxy-connection']);

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
    pool
      .request({ method: req.method as 'GET', path: req.url ?? '/', headers, body })
      .then(async (r) => {
        const answer = Buffer.from(await r.body.arrayBuffer());
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(r.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
        out['content-length'] = String(answer.length);
        res.writeHead(r.statusCode, out);
        res.end(answer);
      })
      .catch(() => {
        res.writeHead(502);
        res.end();
      });
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => console.log(`listening ${(server.address() as { port: number }).port}`));
