// Prometheus metrics (prom-client), served by getMetrics at GET /metrics behind the METRICS_TOKEN
// bearer (src/plugins/auth.ts): requests by route and status, exports, imports, the database
// pools and rate-limit refusals. One registry per app, so several apps in a process (tests) keep
// their own figures. Labels are route templates and fixed words, never an org, user or value.
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { FastifyInstance } from 'fastify'
import type { RateLimitKind } from '../lib/errors.ts'
import type { ExportOutcome } from '../lib/export-stream.ts'

export interface Metrics {
  registry: Registry
  exportStarted: (route: string) => void
  exportWritten: (route: string, rows: number, bytes: number) => void
  exportEnded: (route: string, outcome: ExportOutcome) => void
  importRows: (created: number, skipped: number, failed: number, dryRun: boolean) => void
  rateLimited: (kind: RateLimitKind) => void
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

function build (app: FastifyInstance): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const requests = new Counter({ name: 'orgroster_http_requests_total', help: 'HTTP requests answered, by method, route template and status', labelNames: ['method', 'route', 'status'], registers: [registry] })
  const duration = new Histogram({
    name: 'orgroster_http_request_duration_seconds',
    help: 'Time from the request to its answer (for streamed exports: to the end of the transfer), by method, route template and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
    registers: [registry]
  })
  // The request hook's hot path: one Map lookup per request for the pair of labelled children.
  const children = new Map<string, { count: ReturnType<typeof requests.labels>, time: ReturnType<typeof duration.labels> }>()
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? '(unmatched)'
    const key = `${request.method} ${reply.statusCode} ${route}`
    let child = children.get(key)
    if (child === undefined) {
      const labels = { method: request.method, route, status: String(reply.statusCode) }
      child = { count: requests.labels(labels), time: duration.labels(labels) }
      children.set(key, child)
    }
    child.count.inc()
    child.time.observe(reply.elapsedTime / 1000)
    done()
  })

  const running = new Gauge({ name: 'orgroster_exports_running', help: 'Streaming exports in progress, by route template', labelNames: ['route'], registers: [registry] })
  const exportRows = new Counter({ name: 'orgroster_export_rows_total', help: 'Rows written by streaming exports, by route template', labelNames: ['route'], registers: [registry] })
  const exportBytes = new Counter({ name: 'orgroster_export_bytes_total', help: 'Bytes written by streaming exports, by route template', labelNames: ['route'], registers: [registry] })
  const exports = new Counter({ name: 'orgroster_exports_total', help: 'Streaming exports ended, by route template and outcome (complete, aborted, stalled, failed, shutdown)', labelNames: ['route', 'outcome'], registers: [registry] })
  const importRows = new Counter({ name: 'orgroster_import_rows_total', help: 'CSV import lines, by outcome (created, skipped, failed) and whether it was a dry run', labelNames: ['outcome', 'dry_run'], registers: [registry] })
  const refusals = new Counter({ name: 'orgroster_rate_limited_total', help: 'Requests refused with 429, by limit: requests (per credential), auth_failures (per address), export_slots (concurrent exports)', labelNames: ['limit'], registers: [registry] })

  // Read at scrape time from the pools themselves. The embedded database has one session and no pool.
  type Pool = NonNullable<typeof app.database.pool>
  const pools = (): Array<[string, Pool]> => {
    const { pool, exportPool } = app.database
    return [...(pool ? [['main', pool] as [string, Pool]] : []), ...(exportPool ? [['export', exportPool] as [string, Pool]] : [])]
  }
  const poolGauge = (name: string, help: string, read: (p: Pool) => number): void => {
    registry.registerMetric(new Gauge({
      name,
      help,
      labelNames: ['pool'],
      registers: [],
      collect () { for (const [label, p] of pools()) this.set({ pool: label }, read(p)) }
    }))
  }
  poolGauge('orgroster_db_pool_connections', 'Open PostgreSQL connections, by pool (main, export)', (p) => p.totalCount)
  poolGauge('orgroster_db_pool_idle', 'Idle PostgreSQL connections, by pool', (p) => p.idleCount)
  poolGauge('orgroster_db_pool_waiting', 'Queries waiting for a free connection, by pool', (p) => p.waitingCount)

  return {
    registry,
    exportStarted: (route) => { running.inc({ route }) },
    exportWritten: (route, rows, bytes) => { exportRows.inc({ route }, rows); exportBytes.inc({ route }, bytes) },
    exportEnded: (route, outcome) => { running.dec({ route }); exports.inc({ route, outcome }) },
    importRows: (created, skipped, failed, dryRun) => {
      const dry = String(dryRun)
      importRows.inc({ outcome: 'created', dry_run: dry }, created)
      importRows.inc({ outcome: 'skipped', dry_run: dry }, skipped)
      importRows.inc({ outcome: 'failed', dry_run: dry }, failed)
    },
    rateLimited: (kind) => { refusals.inc({ limit: kind }) }
  }
}

export default fp(async function metrics (app) {
  app.decorate('metrics', build(app))
}, { name: 'metrics', dependencies: ['db'] })
