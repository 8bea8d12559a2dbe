// Builds the application from a validated config; never listens (src/server.ts does).
// Plugins are registered in a visible order: infrastructure, then the routes.
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Config } from './config.ts'
import { resolveJwtKeys, type JwtKeys } from './lib/jwt-keys.ts'
import { loggerOptions, RequestLog } from './lib/logging.ts'
import { requestValidatorCompiler } from './lib/validators.ts'
import errors, { clientErrorHandler, frameworkErrors } from './plugins/errors.ts'
import db from './plugins/db.ts'
import redis from './plugins/redis.ts'
import auth from './plugins/auth.ts'
import rateLimits from './plugins/rate-limit.ts'
import docs from './plugins/docs.ts'
import metrics from './plugins/metrics.ts'
import webhookDelivery from './plugins/webhook-delivery.ts'
import natsEvents from './plugins/nats-events.ts'
import routes from './routes/index.ts'

export { loggerOptions }

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

declare module 'fastify' {
  interface FastifyInstance {
    routeList: readonly string[]
    /** The validated configuration the app was built with. */
    config: Config
    /** Aborted when the app starts closing: long-running work (exports) stops at once. */
    shutdownSignal: AbortSignal
    /** Handlers still running; the database closes only after they finish. */
    handlersInFlight: Set<Promise<unknown>>
  }
}

/**
 * Fastify's trustProxy from TRUST_PROXY. A hop count becomes a function trusting that many hops
 * (Fastify 5 treats a bare number as trusting none): with `1`, request.ip is the address the
 * load balancer appended to X-Forwarded-For, so the service must not be reachable around it.
 */
function trustProxyOption (setting: Config['TRUST_PROXY']): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof setting === 'number' ? (_address, hop) => hop < setting : setting
}

export interface BuildOptions {
  jwtKeys?: JwtKeys
  logger?: FastifyServerOptions['logger']
}

export async function buildApp (config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? loggerOptions(config),
    logController: new RequestLog(),
    bodyLimit: 1024 * 1024,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    clientErrorHandler,
    frameworkErrors,
    trustProxy: trustProxyOption(config.TRUST_PROXY),
    forceCloseConnections: 'idle',
    // Opening the database may create the embedded one or run long migrations: no plugin
    // deadline (10 s by default) cuts a start-up that a busy machine slows; each phase is logged.
    pluginTimeout: 0,
    return503OnClosing: true
  })
  app.setValidatorCompiler(requestValidatorCompiler())
  app.decorate('config', config)
  app.decorate('draining', false)
  // Shutdown (close-with-grace calls app.close()): readiness fails at once, streaming exports
  // stop within a page (their clients see a cut transfer, never a short file that looks whole),
  // and the database closes only once every handler has finished, since an export writes its
  // audit event after its socket is gone.
  const shutdown = new AbortController()
  app.decorate('shutdownSignal', shutdown.signal)
  app.decorate('handlersInFlight', new Set<Promise<unknown>>())
  app.addHook('preClose', async () => {
    app.draining = true
    shutdown.abort()
  })
  // The route table, so a test can hold it against the spec.
  const routeList: string[] = []
  app.decorate('routeList', routeList)
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routeList.push(`${method} ${route.url}`)
  })
  app.addHook('onRequest', async (request, reply) => { reply.header('x-request-id', request.id) })

  await app.register(errors)
  await app.register(db, { config })
  await app.register(metrics)
  await app.register(redis, { config })
  await app.register(auth, { config, jwtKeys: options.jwtKeys ?? resolveJwtKeys(config) })
  await app.register(rateLimits, { config })
  await app.register(docs)
  await app.register(webhookDelivery, { config })
  await app.register(natsEvents, { config })
  await app.register(routes)
  // Registered after the db plugin, so it runs before the database closes (onClose is LIFO).
  app.addHook('onClose', async () => { await Promise.allSettled([...app.handlersInFlight]) })
  return app
}
