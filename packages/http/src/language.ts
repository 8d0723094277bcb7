import { negotiateLanguage, type Language } from '@glavito/contracts';
import type { FastifyInstance, FastifyRequest } from 'fastify';

const languages = new WeakMap<FastifyRequest, Language>();

/** The language of the answer to a request (`?lang=` wins over Accept-Language; English by default). */
export function languageOf(request: FastifyRequest): Language {
  let lang = languages.get(request);
  if (!lang) {
    const query = request.query as Record<string, unknown> | undefined;
    lang = negotiateLanguage({ query: query?.lang, acceptLanguage: request.headers['accept-language'] });
    languages.set(request, lang);
  }
  return lang;
}

/**
 * `?lang=` is read by every route before its own query is validated and then taken out of the query, so that a
 * route with a strict query schema accepts it too. Answers vary with the language a client asks for.
 */
export function installLanguage(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    languageOf(request);
    const query = request.query as Record<string, unknown> | undefined;
    if (query && Object.hasOwn(query, 'lang')) delete query.lang;
    const vary = reply.getHeader('vary');
    reply.header('vary', vary ? `${String(vary)}, Accept-Language` : 'Accept-Language');
    reply.header('content-language', languageOf(request));
  });
}
