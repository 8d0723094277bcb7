import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface ConsoleRoutesOptions {
  /** The folder of the built console (index.html + assets/), absolute. */
  root: string;
}

const PREFIX = '/console/';
/** Vite names these files by their content hash: a changed file is a new URL, so they may be kept for good. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * Whether a decoded path below /console/ is a plain relative file path: no `.`/`..`/empty segments, no
 * backslash or NUL. find-my-way has already decoded %2e, %2f and %5c, so encoded traversals land here too.
 * @fastify/send refuses traversal as well; this check makes it a 404 before any file system access.
 */
function isPlainPath(rel: string): boolean {
  if (rel.includes('\\') || rel.includes('\0')) return false;
  const segments = rel.split('/');
  // A trailing slash (an empty last segment) is a client-side route, as is the root.
  if (segments.at(-1) === '') segments.pop();
  return segments.every((s) => s !== '' && s !== '.' && s !== '..');
}

/** A request for a file (a name with an extension, or anything under assets/) rather than a client-side route. */
const isFileRequest = (rel: string) => rel.startsWith('assets/') || /\.[A-Za-z0-9]+$/.test(rel.split('/').at(-1) ?? '');

/**
 * The reference console (a single-page app) at /console/: its files from `root`, and index.html for every other
 * path below it so the app's own routes survive a reload. A missing file is a 404, never index.html: a page that
 * asked for a script must not get HTML back.
 */
export default async function consoleRoutes(app: FastifyInstance, opts: ConsoleRoutesOptions): Promise<void> {
  // Only sendFile (traversal-safe, content types, ETag, ranges); the routes below decide what is served.
  await app.register(fastifyStatic, { root: opts.root, serve: false, index: false, dotfiles: 'ignore' });

  const sendIndex = (reply: FastifyReply) => reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });

  app.get('/console', async (request, reply) => {
    const query = request.url.indexOf('?');
    return reply.redirect(PREFIX + (query === -1 ? '' : request.url.slice(query)), 301);
  });

  app.get('/console/*', async (request: FastifyRequest<{ Params: { '*': string } }>, reply) => {
    const rel = request.params['*'];
    if (!isPlainPath(rel)) return reply.callNotFound();
    if (!isFileRequest(rel)) return sendIndex(reply);
    // A folder (assets/) is not a file, and nothing lists it.
    if (rel.endsWith('/')) return reply.callNotFound();
    // Other files (favicon, manifest) keep their names across builds: revalidated each time.
    return reply.header('cache-control', rel.startsWith('assets/') ? IMMUTABLE : 'no-cache').sendFile(rel, { cacheControl: false, index: false });
  });
}
