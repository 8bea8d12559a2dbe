// Opens the database: a `pg` pool for DATABASE_URL, else an embedded PGlite under DATA_DIR
// (or in memory for `memory://`). Both read timestamptz as ISO 8601 strings with full
// microsecond precision (keyset cursors need every digit) and int8 as numbers.
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { Kysely, PostgresDialect } from 'kysely'
import { PGliteDialect } from 'kysely-pglite-dialect'
import pg from 'pg'
import type { Database } from './schema.ts'
import { PreparingClient } from './prepared.ts'
import { openEmbedded } from './embedded.ts'
import type { PGlite } from '@electric-sql/pglite'
import { DatabaseOpenError, lockDataDir } from './data-dir-lock.ts'

export { DatabaseOpenError, exitOnOpenError } from './data-dir-lock.ts'

export type DatabaseKind = 'postgres' | 'pglite'

export interface DatabaseHandle {
  db: Kysely<Database>
  kind: DatabaseKind
  /** The pg pool (postgres only): exports take their own connections from it. */
  pool?: pg.Pool
  /** The pool export sessions take their dedicated connections from (postgres only). */
  exportPool?: pg.Pool
  /** The embedded database itself (pglite only): exports run COPY on it. */
  lite?: PGlite
  close: () => Promise<void>
}

export interface ConnectOptions {
  databaseUrl?: string
  dataDir: string
  poolMax: number
  statementTimeoutMs: number
  /** Connections reserved for streaming exports (postgres only); default 4. */
  exportPoolMax?: number
  /** How long a query waits for a free pool connection before failing (503); default 5000. */
  acquireTimeoutMs?: number
  /** Send the hot statements as named prepared statements (src/db/prepared.ts); default true. */
  namedStatements?: boolean
  /** Told what opening the embedded database is doing (creating it can take seconds), for the log. */
  onPhase?: (message: string) => void
}

const TIMESTAMPTZ = 1184
const TIMESTAMP = 1114
const INT8 = 20

const PG_UTC_TIMESTAMP = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(?:\+00(?::00)?)?$/

/**
 * '2026-01-02 03:04:05.12+00' (session TimeZone UTC) → '2026-01-02T03:04:05.120000Z'.
 * PostgreSQL drops trailing zeros of the fraction; every timestamp gets all six digits so that
 * they have one width and sort as strings the way they sort as times.
 */
export function pgTimestampToIso (text: string): string {
  const parts = PG_UTC_TIMESTAMP.exec(text)
  if (!parts) return text.replace(' ', 'T').replace(/\+00(:00)?$/, 'Z')
  return `${parts[1]}T${parts[2]}.${(parts[3] ?? '').padEnd(6, '0')}Z`
}

/** A `pg` pool reading timestamps as ISO strings and int8 as numbers. */
function pgPool (url: string, max: number, statementTimeoutMs: number, applicationName: string, acquireTimeoutMs: number, namedStatements = false): pg.Pool {
  const pool = new pg.Pool({
    ...(namedStatements ? { Client: PreparingClient } : {}),
    connectionString: url,
    application_name: applicationName,
    max,
    // Also the pool's acquire timeout: a saturated pool fails fast (503) instead of queueing forever.
    connectionTimeoutMillis: acquireTimeoutMs,
    idleTimeoutMillis: 30000,
    statement_timeout: statementTimeoutMs,
    idle_in_transaction_session_timeout: Math.max(statementTimeoutMs * 2, 60000),
    options: '-c TimeZone=UTC',
    types: {
      getTypeParser: ((oid: number, format?: any) => {
        if (oid === TIMESTAMPTZ || oid === TIMESTAMP) return pgTimestampToIso
        if (oid === INT8) return Number
        return pg.types.getTypeParser(oid, format)
      }) as typeof pg.types.getTypeParser
    }
  })
  // A client that loses its server must not crash the process: idle ones report to the pool,
  // and checked-out ones (which pg leaves without an 'error' listener) fail their query
  // instead; the pool drops them on release since they are no longer queryable.
  pool.on('error', () => {})
  pool.on('connect', (client) => { client.on('error', () => {}) })
  return pool
}

export async function connectDatabase (options: ConnectOptions): Promise<DatabaseHandle> {
  if (options.databaseUrl) {
    const acquire = options.acquireTimeoutMs ?? 5000
    const pool = pgPool(options.databaseUrl, options.poolMax, options.statementTimeoutMs, 'orgroster', acquire, options.namedStatements ?? true)
    // Exports hold a connection for the whole download: they get their own small pool, so they
    // can never take the connections ordinary requests need (src/db/export-session.ts).
    const exportPool = pgPool(options.databaseUrl, options.exportPoolMax ?? 4, options.statementTimeoutMs, 'orgroster-export', acquire)
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
    return {
      db,
      kind: 'postgres',
      pool,
      exportPool,
      close: async () => { await Promise.all([db.destroy(), exportPool.end()]) }
    }
  }

  const { types } = await import('@electric-sql/pglite')
  const memory = options.dataDir === 'memory://'
  let unlock = async (): Promise<void> => {}
  if (!memory) {
    mkdirSync(options.dataDir, { recursive: true })
    unlock = await lockDataDir(options.dataDir)
  }
  let lite
  try {
    // One options object: PGlite.create(undefined, options) ignores its options, and the
    // in-memory database then returned timestamps as Dates (microseconds lost).
    lite = await openEmbedded({
      dataDir: options.dataDir,
      pgliteOptions: {
        parsers: {
          [types.TIMESTAMPTZ]: pgTimestampToIso,
          [types.TIMESTAMP]: pgTimestampToIso,
          [types.INT8]: Number
        }
      },
      onPhase: options.onPhase
    })
    await lite.exec("SET TimeZone = 'UTC'")
  } catch (err) {
    await unlock()
    if (memory) throw err
    throw new DatabaseOpenError(`The embedded database in ${resolve(options.dataDir)} could not be opened and looks damaged (${String((err as Error).message ?? err).slice(0, 200)}): ` +
      'restore it from a backup, or move it away to start with an empty one (or use DATABASE_URL)')
  }
  const db = new Kysely<Database>({ dialect: new PGliteDialect(lite) })
  return { db, kind: 'pglite', lite, close: async () => { await db.destroy(); await unlock() } }
}
