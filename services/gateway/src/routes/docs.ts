import swagger, { type StaticDocumentSpec } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { buildOpenApiDocument } from '../openapi.js';

/** `/docs` (Swagger UI) and `/docs/json`, generated from the contracts' route catalog. */
export default async function docsRoutes(app: FastifyInstance): Promise<void> {
  const document = buildOpenApiDocument() as unknown as StaticDocumentSpec['document'];
  await app.register(swagger, { mode: 'static', specification: { document } });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { validatorUrl: null } });
}
