// The one streaming helper behind every export route (member CSV, admin CSV/JSON exports).
//
// How to use it, in a handler, after the permission check and input validation:
//
//   const pages = myPages(...)            // an async generator yielding arrays of rows; open
//                                         // the database session (src/db/export-session.ts)
//                                         // inside it and close it in its `finally`
//   const result = await streamExport(request, reply, {
//     filename: 'users-export-2026-01-01T00-00-00.csv', format: 'csv',
//     columns: [{ name: 'id', value: (r) => r.id }, ...],
//     pages, stallMs: app.config.EXPORT_STALL_MS,
//     headers: { 'x-export-truncated': 'true' },          // optional
//     envelope: () => ({ truncated: true }),               // optional, JSON only, read at the end
//   })
//   await recordAudit(..., { metadata: { rows: result.rows, outcome: result.outcome } })
//   return reply
//
// What it does (STYLE.md, "Writing into reply.raw"): the first page is fetched before anything
// is written, so a failure there (a 429 from the session, a bad cursor, a database error) is
// still an ordinary JSON error. Then it hijacks the reply, copies Fastify's headers (request
// id...) onto reply.raw and writes 200 with type, attachment disposition (RFC 6266 filename*)
// and Cache-Control: no-store, never Content-Length. Each page becomes one write; the next page
// is fetched while this one goes out; when the socket is full it waits for `drain`, raced
// against the client going away and EXPORT_STALL_MS. A client that leaves stops the loop within
// a page and the generator's `finally` releases the connection. An error after the headers is
// logged and the socket destroyed, so the client sees a truncated transfer, never a short file
// that looks whole. JSON is written progressively as {"data":[...],"exportedAt":"...","total":N}.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { BOM, csvHeader, csvRecord } from './csv.ts'

export interface ExportColumn<Row> {
  name: string
  value: (row: Row) => unknown
}

/** A page its source already wrote as CSV records (the member export's, by the database). */
export interface EncodedPage {
  csv: Buffer
  rows: number
  /** Called once `csv` has gone to the socket: its source may then reuse the buffer. */
  sent?: () => void
}

export interface StreamExportOptions<Row> {
  filename: string
  format: 'csv' | 'json'
  columns: ReadonlyArray<ExportColumn<Row>>
  /**
   * Pages of rows, or (CSV only) of encoded records; an empty page is allowed. Closed (return())
   * when the export stops early.
   */
  pages: AsyncIterator<Row[] | EncodedPage>
  /** How long to wait for a client that stopped reading before cutting it off. */
  stallMs: number
  /** Extra response headers (e.g. x-export-truncated). */
  headers?: Record<string, string>
  /** CSV only: prepend a UTF-8 byte order mark. */
  bom?: boolean
  /** JSON only: extra top-level fields, read after the last row (e.g. { truncated: true }). */
  envelope?: () => Record<string, unknown>
}

/** `shutdown`: the instance started closing (app.shutdownSignal) and cut the transfer. */
export type ExportOutcome = 'complete' | 'aborted' | 'stalled' | 'failed' | 'shutdown'

export interface ExportResult {
  /** Rows written to the socket. */
  rows: number
  outcome: ExportOutcome
}

/** `attachment` with an ASCII fallback `filename` and the exact name in RFC 6266 `filename*`. */
export function contentDisposition (filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_')
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`
}

/** `2026-01-02T03-04-05`: a timestamp usable in a filename. */
export function filenameTimestamp (date = new Date()): string {
  return date.toISOString().slice(0, 19).replace(/:/g, '-')
}

/** ISO 8601 with six fraction digits, as every timestamp the service sends (a Date has three). */
export function microsecondTimestamp (date = new Date()): string {
  return date.toISOString().replace(/Z$/, '000Z')
}

export async function streamExport<Row> (request: FastifyRequest, reply: FastifyReply, options: StreamExportOptions<Row>): Promise<ExportResult> {
  const { columns, pages } = options
  const json = options.format === 'json'
  const exportedAt = microsecondTimestamp()
  // Before the hijack: errors here are still Fastify's JSON errors.
  let current = await pages.next()

  reply.hijack()
  const res = reply.raw
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) res.setHeader(name, value as string | number | readonly string[])
  }
  res.writeHead(200, {
    ...options.headers,
    'content-type': json ? 'application/json; charset=utf-8' : 'text/csv; charset=utf-8',
    'content-disposition': contentDisposition(options.filename),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff'
  })

  let gone = false
  const onClose = (): void => { if (!res.writableEnded) gone = true }
  res.on('close', onClose)
  const shutdown = request.server.shutdownSignal
  const metrics = request.server.metrics
  const route = request.routeOptions.url ?? ''
  const names = columns.map((c) => c.name)
  let rows = 0
  let outcome: ExportOutcome = 'complete'
  metrics.exportStarted(route)
  try {
    let chunk = json ? '{"data":[' : (options.bom === true ? BOM : '') + csvHeader(names)
    while (current.done !== true) {
      const page = current.value
      // Fetch the next page while this one is formatted and sent.
      const ahead = pages.next()
      ahead.catch(() => {})
      let written: boolean
      if (Array.isArray(page)) {
        chunk += json ? jsonRows(page, columns, rows) : csvRows(page, columns)
        rows += page.length
        metrics.exportWritten(route, page.length, Buffer.byteLength(chunk))
        written = res.write(chunk)
      } else {
        // Only the first page has text before it (the BOM and header).
        if (chunk !== '') res.write(chunk)
        rows += page.rows
        metrics.exportWritten(route, page.rows, Buffer.byteLength(chunk) + page.csv.length)
        written = res.write(page.csv, page.sent === undefined ? undefined : (err) => { if (err == null) page.sent!() })
      }
      if (!written && !(await drained(res, options.stallMs, () => gone, shutdown))) {
        outcome = gone ? 'aborted' : shutdown.aborted ? 'shutdown' : 'stalled'
        break
      }
      chunk = ''
      if (gone) { outcome = 'aborted'; break }
      if (shutdown.aborted) { outcome = 'shutdown'; break }
      current = await ahead
    }
    if (outcome === 'complete') {
      if (json) {
        const extra = Object.entries(options.envelope?.() ?? {}).map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`).join('')
        chunk += `],"exportedAt":${JSON.stringify(exportedAt)},"total":${rows}${extra}}`
      }
      res.end(chunk)
    } else {
      request.log.info({ rows, outcome }, 'export stopped early')
      res.destroy()
    }
  } catch (err) {
    outcome = 'failed'
    request.log.error({ err, rows }, 'export failed after the headers were sent; destroying the socket')
    res.destroy()
  } finally {
    metrics.exportEnded(route, outcome)
    res.removeListener('close', onClose)
    // Runs the page source's `finally` (releases the connection); a failure there is logged.
    await pages.return?.(undefined).catch((err: unknown) => request.log.warn({ err }, 'closing the export source failed'))
  }
  return { rows, outcome }
}

function csvRows<Row> (page: readonly Row[], columns: ReadonlyArray<ExportColumn<Row>>): string {
  let out = ''
  const values: unknown[] = new Array(columns.length)
  for (const row of page) {
    for (let i = 0; i < columns.length; i++) values[i] = columns[i]!.value(row)
    out += csvRecord(values)
  }
  return out
}

function jsonRows<Row> (page: readonly Row[], columns: ReadonlyArray<ExportColumn<Row>>, before: number): string {
  let out = ''
  let n = before
  for (const row of page) {
    const obj: Record<string, unknown> = {}
    for (const c of columns) obj[c.name] = c.value(row) ?? null
    out += (n++ === 0 ? '' : ',') + JSON.stringify(obj)
  }
  return out
}

/** Resolves true on `drain`; false when the client goes away, stops reading for `stallMs`, or the instance shuts down. */
async function drained (res: NodeJS.WritableStream, stallMs: number, isGone: () => boolean, shutdown: AbortSignal): Promise<boolean> {
  if (isGone() || shutdown.aborted) return false
  return await new Promise<boolean>((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      res.removeListener('drain', onDrain)
      res.removeListener('close', onGone)
      shutdown.removeEventListener('abort', onGone)
      resolve(ok)
    }
    const onDrain = (): void => done(true)
    const onGone = (): void => done(false)
    const timer = setTimeout(() => done(false), stallMs)
    res.on('drain', onDrain)
    res.on('close', onGone)
    shutdown.addEventListener('abort', onGone)
  })
}
