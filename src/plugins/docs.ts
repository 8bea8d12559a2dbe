// Serves the spec itself (static mode, not a re-derivation) and Swagger UI at /docs.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import spec from '../../generated/openapi.json' with { type: 'json' }

export default fp(async function docs (app) {
  await app.register(swagger, { mode: 'static', specification: { document: structuredClone(spec) as any } })
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { persistAuthorization: true, displayRequestDuration: true, tryItOutEnabled: true },
    staticCSP: false
  })
}, { name: 'docs' })
