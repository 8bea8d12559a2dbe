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

export default fp(async function db (app, opts: { config: Config }) {
  const { config } = opts
  const handle = await connectDatabase({
    databaseUrl: config.DATABASE_URL,
    dataDir: config.DATA_DIR,
    poolMax: config.DB_POOL_MAX,
    statementTimeoutMs: config.STATEMENT_TIMEOUT_MS,
    exportPoolMax: config.EXPORT_POOL_MAX,
    acquireTimeoutMs: config.DB_ACQUIRE_TIMEOUT_MS,
    namedStatements: config.DB_NAMED_STATEMENTS
  })
  try {
    await migrateToLatest(handle.db)
  } catch (err) {
    await handle.close()
    throw err
  }
  app.decorate('db', handle.db)
  app.decorate('database', handle)
  app.addHook('onClose', async () => { await handle.close() })
}, { name: 'db' })
