// The database side of a streaming export. On PostgreSQL a session is one dedicated connection
// from the export pool (never the request pool) holding one REPEATABLE READ READ ONLY
// transaction, so the whole file is one snapshot, with the planner settings of a stream
// (EXPORT_PLANNER_SETTINGS), and each statement is capped; a COPY streams there (`streams`).
// On the embedded database (one session shared by every request) each page is its own
// statement, so a download never blocks other requests; there is no snapshot across pages.
//
// Concurrency: `lock` limits exports sharing a key (e.g. one org) to `slots` at once, across
// instances on PostgreSQL (pg_try_advisory_xact_lock on slot numbers, released with the
// transaction, even when the connection dies), in process on the embedded database. The
// instance also never runs more exports than the export pool has connections. Over either
// limit the caller gets a RateLimitError (429) before anything is streamed.
import { CompiledQuery, Kysely, PostgresDialect, sql, type RawBuilder } from 'kysely'
import pg from 'pg'
import type { Readable } from 'node:stream'
import { to as copyTo } from 'pg-copy-streams'
import type { DatabaseHandle, DatabaseKind } from './connect.ts'
import type { Database } from './schema.ts'
import { RateLimitError, ServiceUnavailableError } from '../lib/errors.ts'

export interface ExportSessionOptions {
  /** At most `slots` concurrent sessions per `key`. */
  lock?: { key: string, slots: number }
  /** Longest the session may run; past it the next statement fails (the download is cut). */
  maxSeconds: number
  /** How long the client may stall; the server ends a transaction left idle much longer. */
  stallMs: number
}

export interface ExportSession {
  kind: DatabaseKind
  /** Runs one statement; rows come back as arrays in the SELECT's column order. */
  rows: (query: { sql: string, parameters: readonly unknown[] }) => Promise<unknown[][]>
  /**
   * Runs one SELECT through the database's own CSV writer (COPY ... WITH (FORMAT csv): RFC 4180
   * quoting, LF record ends, no header): its bytes, in the chunks they come in. Read it to the
   * end or close the session.
   */
  copy: (query: { sql: string, parameters: readonly unknown[] }) => AsyncIterable<Buffer>
  /**
   * Whether copy() streams (PostgreSQL: the chunks come as the database writes them, held back
   * while they are not read), so one statement can serve a whole export. The embedded database
   * writes a statement's whole output in memory first, then hands it on in chunks of 64 KB.
   */
  streams: boolean
  /** A Kysely bound to this session (its connection on PostgreSQL). */
  db: Kysely<Database>
  /** Ends the transaction and returns the connection; safe to call twice. */
  close: () => Promise<void>
}

export const EXPORT_RETRY_AFTER_MS = 5000

/** The size of the chunks the embedded database's COPY output is handed on in (a pg stream's are 64 KB). */
const EMBEDDED_COPY_SLICE = 1 << 16

/**
 * The planner settings of an export's transaction on PostgreSQL (bench/export.ts runs its `\copy`
 * reference with them too). An export is one backend's work: parallel workers would take the
 * cores other requests need. It streams its rows in index order: costing the whole result, the
 * planner would rather sort it, which holds back the first row until every row is read (with
 * enable_sort off a sort is its last resort), and JIT compiles for a third of a second before
 * the first row. With both off, 100,000 members took 1.3 s instead of 2.0 s.
 */
export const EXPORT_PLANNER_SETTINGS = { max_parallel_workers_per_gather: '0', enable_sort: 'off', jit: 'off' } as const

export class ExportTimeoutError extends Error {
  constructor (seconds: number) { super(`export exceeded EXPORT_MAX_SECONDS (${seconds} s)`) }
}

// Per database handle (tests build several apps in one process).
const active = new WeakMap<DatabaseHandle, { total: number, byKey: Map<string, number> }>()

function counters (handle: DatabaseHandle) {
  let c = active.get(handle)
  if (c === undefined) active.set(handle, c = { total: 0, byKey: new Map() })
  return c
}

function busy (message: string): RateLimitError {
  return new RateLimitError(message, EXPORT_RETRY_AFTER_MS, 'export_slots')
}

/** A timestamp column as the API writes it (six fraction digits, UTC), formatted by the database. */
export function isoText (column: string): RawBuilder<string | null> {
  return sql<string | null>`to_char(${sql.ref(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
}

/**
 * The query with its parameters written in as literals: COPY takes no bind parameters. Only the
 * SQL text is rewritten (a value holding "$2" is never read again); Kysely's SQL has no other $.
 */
export function withLiterals (query: { sql: string, parameters: readonly unknown[] }): string {
  return query.sql.replace(/\$(\d+)/g, (_m, n: string) => literal(query.parameters[Number(n) - 1]))
}

function literal (value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'string') return pg.escapeLiteral(value)
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  if (typeof value === 'boolean') return String(value)
  if (Array.isArray(value)) return `array[${value.map(literal).join(', ')}]`
  throw new TypeError(`no SQL literal for a parameter of type ${typeof value}`)
}

/** Opens a session or throws RateLimitError when the limits are reached. */
export async function openExportSession (handle: DatabaseHandle, options: ExportSessionOptions): Promise<ExportSession> {
  const c = counters(handle)
  const deadline = Date.now() + options.maxSeconds * 1000
  const checkDeadline = (): void => { if (Date.now() > deadline) throw new ExportTimeoutError(options.maxSeconds) }
  if (handle.lite !== undefined) {
    const lite = handle.lite
    const key = options.lock?.key
    const held = key === undefined ? 0 : c.byKey.get(key) ?? 0
    if (key !== undefined && held >= options.lock!.slots) throw busy(`At most ${options.lock!.slots} exports of this organization may run at once`)
    if (key !== undefined) c.byKey.set(key, held + 1)
    let open = true
    return {
      kind: handle.kind,
      db: handle.db,
      rows: async (query) => {
        checkDeadline()
        // The page comes back as one JSON text: PGlite decodes each field of a result in
        // JavaScript (a copy and a decode per cell, most of an export's time), JSON.parse is
        // native. The values are those of the ordinary path for the types exports select (text,
        // numbers, booleans, arrays, JSON; timestamps are formatted in SQL by isoText); columns
        // need distinct names. json_agg keeps the subquery's order.
        const result = await handle.db.executeQuery<{ page: string | null }>(CompiledQuery.raw(`select json_agg(t)::text as page from (${query.sql}) t`, [...query.parameters]))
        const text = result.rows[0]?.page
        return text == null ? [] : (JSON.parse(text) as Array<Record<string, unknown>>).map((r) => Object.values(r))
      },
      copy: async function * (query) {
        checkDeadline()
        // PGlite's COPY target in memory: the statement's whole output as one Blob, handed on in
        // slices as a stream's chunks would be, so a reader can cut pages out of a long statement.
        const { blob } = await lite.query(`copy (${withLiterals(query)}) to '/dev/blob' with (format csv)`)
        if (blob === undefined) return
        const output = Buffer.from(await blob.arrayBuffer())
        for (let at = 0; at < output.length; at += EMBEDDED_COPY_SLICE) yield output.subarray(at, at + EMBEDDED_COPY_SLICE)
      },
      streams: false,
      close: async () => {
        if (!open) return
        open = false
        if (key === undefined) return
        const n = (c.byKey.get(key) ?? 1) - 1
        if (n <= 0) c.byKey.delete(key); else c.byKey.set(key, n)
      }
    }
  }
  if (handle.exportPool === undefined) throw new Error('a PostgreSQL handle without an export pool')
  return await openPostgresSession(handle, handle.exportPool, c, options, checkDeadline)
}

async function openPostgresSession (
  handle: DatabaseHandle, pool: pg.Pool, c: { total: number }, options: ExportSessionOptions, checkDeadline: () => void
): Promise<ExportSession> {
  // Never queue for an export connection: a full export pool is a 429 now, not a hung request.
  if (c.total >= pool.options.max) throw busy('This instance is running as many exports as it can')
  c.total++
  let client: pg.PoolClient
  try {
    client = await pool.connect()
  } catch (err) {
    c.total--
    throw Object.assign(new ServiceUnavailableError(), { cause: err })
  }
  let broken: Error | undefined
  // A checked-out client has no listener; a terminated backend must not crash the process.
  const onError = (err: Error): void => { broken = err }
  client.on('error', onError)
  let open = true
  // A COPY not read to its end: the connection is still receiving it.
  let copying: Readable | null = null
  const close = async (): Promise<void> => {
    if (!open) return
    open = false
    c.total--
    // Cutting the connection is what stops the database sending it; its transaction (and the
    // export slot) end with it.
    if (copying !== null) broken ??= new Error('the export stopped before its COPY ended')
    if (broken === undefined) {
      try { await client.query('rollback') } catch (err) { broken = err as Error }
    }
    // A healthy connection goes back to the pool (which listens for its errors again); a broken
    // one keeps our listener, since it may still emit while the pool destroys it.
    if (broken === undefined) client.removeListener('error', onError)
    client.release(broken ?? false)
  }
  try {
    // One round trip for the transaction and its settings (time to first byte counts them).
    await client.query(`begin isolation level repeatable read read only;
      ${Object.entries(EXPORT_PLANNER_SETTINGS).map(([name, value]) => `set local ${name} = ${value};`).join(' ')}
      set local statement_timeout = ${Math.ceil(options.maxSeconds * 1000)};
      set local idle_in_transaction_session_timeout = ${Math.ceil(options.stallMs + 30000)}`)
    if (options.lock !== undefined && !(await takeSlot(client, options.lock.key, options.lock.slots))) {
      throw busy(`At most ${options.lock.slots} exports of this organization may run at once`)
    }
  } catch (err) {
    await close()
    throw err
  }
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: singleClientPool(client) }) })
  return {
    kind: handle.kind,
    db,
    rows: async (query) => {
      checkDeadline()
      const result = await client.query({ text: query.sql, values: [...query.parameters], rowMode: 'array' })
      return result.rows as unknown[][]
    },
    copy: (query) => {
      checkDeadline()
      const stream = client.query(copyTo(`copy (${withLiterals(query)}) to stdout with (format csv)`))
      copying = stream
      // After its end, or an error the database sent, the connection is ready for the next statement.
      const ended = (): void => { if (copying === stream) copying = null }
      stream.once('end', ended).once('error', ended)
      return stream
    },
    streams: true,
    close
  }
}

/**
 * Takes the first free slot of `key` in one statement: CASE evaluates its branches in order and
 * stops at the first lock taken, so at most one slot is held. The lock lasts as long as the
 * transaction.
 */
async function takeSlot (client: pg.PoolClient, key: string, slots: number): Promise<boolean> {
  const branches = Array.from({ length: slots }, (_, slot) => `when pg_try_advisory_xact_lock(hashtext($1), ${slot}) then true`).join(' ')
  const { rows } = await client.query<{ ok: boolean | null }>(`select case ${branches} else false end as ok`, [key])
  return rows[0]?.ok === true
}

/** A pool-shaped wrapper so Kysely runs every query on the session's one connection. */
function singleClientPool (client: pg.PoolClient) {
  const connection = { query: client.query.bind(client), release: () => {} }
  return { connect: async () => connection, end: async () => {} } as unknown as pg.Pool
}
