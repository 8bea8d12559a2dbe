// Builds the application from a validated config; never listens (src/server.ts does).
// Plugins are registered in a visible order: infrastructure, then the routes.
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Config } from './config.ts'
import { resolveJwtKeys, type JwtKeys } from './lib/jwt-keys.ts'
import errors from './plugins/errors.ts'
import db from './plugins/db.ts'
import auth from './plugins/auth.ts'
import rateLimits from './plugins/rate-limit.ts'
import docs from './plugins/docs.ts'
import routes from './routes/index.ts'

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

declare module 'fastify' {
  interface FastifyInstance {
    routeList: readonly string[]
    /** The validated configuration the app was built with. */
    config: Config
  }
}

export interface BuildOptions {
  jwtKeys?: JwtKeys
  logger?: FastifyServerOptions['logger']
}

export function loggerOptions (config: Config): FastifyServerOptions['logger'] {
  if (config.LOG_LEVEL === 'silent') return false
  return {
    level: config.LOG_LEVEL,
    // Credentials never reach the logs.
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers["x-prismeai-api-key"]', 'req.headers.cookie'],
      censor: '[redacted]'
    }
  }
}

export async function buildApp (config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? loggerOptions(config),
    bodyLimit: 1024 * 1024,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false }
    },
    forceCloseConnections: 'idle',
    return503OnClosing: true
  })
  app.decorate('config', config)
  app.decorate('draining', false)
  // The route table, so a test can hold it against the spec.
  const routeList: string[] = []
  app.decorate('routeList', routeList)
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routeList.push(`${method} ${route.url}`)
  })
  app.addHook('onRequest', async (request, reply) => { reply.header('x-request-id', request.id) })

  await app.register(errors)
  await app.register(db, { config })
  await app.register(auth, { config, jwtKeys: options.jwtKeys ?? resolveJwtKeys(config) })
  await app.register(rateLimits, { config })
  await app.register(docs)
  await app.register(routes)
  return app
}
