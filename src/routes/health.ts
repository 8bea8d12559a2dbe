// Liveness, readiness and the Prometheus metrics.
import { sql } from 'kysely'
import { migrationsCurrent } from '../db/migrate.ts'
import type { Handlers } from './operations.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Set while the instance drains for shutdown, so load balancers stop sending traffic. */
    draining: boolean
  }
}

export const healthHandlers = {
  async getHealth () {
    return { status: 'ok' as const }
  },
  async getReadiness (_request, reply) {
    if (this.draining) return reply.code(503).send({ status: 'draining', reason: 'shutting down' })
    try {
      await sql`select 1`.execute(this.db)
      if (!(await migrationsCurrent(this.db))) {
        return reply.code(503).send({ status: 'unavailable', reason: 'migrations pending' })
      }
    } catch {
      return reply.code(503).send({ status: 'unavailable', reason: 'database unreachable' })
    }
    return { status: 'ok' as const }
  },
  // Authenticated by METRICS_TOKEN (src/plugins/auth.ts); src/plugins/metrics.ts keeps the figures.
  async getMetrics (_request, reply) {
    const text = await this.metrics.registry.metrics()
    return await reply.type(this.metrics.registry.contentType).send(text)
  }
} satisfies Partial<Handlers>
