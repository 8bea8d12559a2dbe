// The Redis connection shared by the counters that must hold across instances (rate limits,
// failed authentications), when REDIS_URL is set; null otherwise, and they count in memory.
// Commands fail at once while Redis is unreachable (no offline queue), and every user of it
// lets the request through rather than wait or fail: a Redis outage must not take the API down.
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import type { Config } from '../config.ts'

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis | null
  }
}

export default fp(async function redis (app, opts: { config: Config }) {
  const url = opts.config.REDIS_URL
  const client = url ? new Redis(url, { connectTimeout: 1000, maxRetriesPerRequest: 1, enableOfflineQueue: false }) : null
  if (client) {
    client.on('error', (err) => app.log.warn({ err: err.message }, 'redis error'))
    app.addHook('onClose', async () => { client.disconnect() })
    // Without an offline queue, commands before the connection is up would go uncounted.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.off('ready', ready)
        app.log.warn('redis is not reachable yet: limits count in Redis once it is, and let requests through until then')
        resolve()
      }, 2000)
      const ready = (): void => { clearTimeout(timer); resolve() }
      client.once('ready', ready)
    })
  }
  app.decorate('redis', client)
}, { name: 'redis' })
