// The Kysely database, migrated at boot and closed with the app.
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { connectDatabase, type DatabaseHandle } from '../db/connect.ts'
import { migrateToLatest } from '../db/migrate.ts'
import type { Database } from '../db/schema.ts'
import type { Config } from '../config.ts'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
    database: DatabaseHandle
  }
}

const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1)

export default fp(async function db (app, opts: { config: Config }) {
  const { config } = opts
  const opened = performance.now()
  const handle = await connectDatabase({
    databaseUrl: config.DATABASE_URL,
    dataDir: config.DATA_DIR,
    poolMax: config.DB_POOL_MAX,
    statementTimeoutMs: config.STATEMENT_TIMEOUT_MS,
    exportPoolMax: config.EXPORT_POOL_MAX,
    acquireTimeoutMs: config.DB_ACQUIRE_TIMEOUT_MS,
    namedStatements: config.DB_NAMED_STATEMENTS,
    onPhase: (message) => app.log.info(message)
  })
  // Each start-up phase is logged with its duration, so a first start (seconds) is never silent.
  app.log.info(`database open in ${seconds(opened)} s; migrating`)
  try {
    const migrating = performance.now()
    const applied = await migrateToLatest(handle.db)
    app.log.info(`migrated in ${seconds(migrating)} s (${applied} migration${applied === 1 ? '' : 's'} applied)`)
  } catch (err) {
    await handle.close()
    throw err
  }
  app.decorate('db', handle.db)
  app.decorate('database', handle)
  app.addHook('onClose', async () => { await handle.close() })
}, { name: 'db' })
