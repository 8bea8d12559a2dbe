// A client that sends the export request over a raw TCP socket and then never reads a byte:
// the server stops producing once the socket buffers are full (what it has accepted stays
// bounded while the client is stuck), cuts the client off after EXPORT_STALL_MS, and gives the
// export's database connection and per-org slot back.
import net from 'node:net'
import t from 'tap'
import { bearer, buildTestApp, databaseName, onPostgres, ownerWithOrg } from './helper.ts'
import { eventually, exportPoolInUse, listen, openExportBackends, seedFatMembers, startExport } from './export-helper.ts'
import { MEMBER_EXPORT_SLOTS } from '../src/routes/v2/member-export.ts'

t.comment(`database: ${databaseName}`)

const MEMBERS = 6000
const ROW_BYTES = 10_000
const PAGE_ROWS = 100
const PAGE_BYTES = PAGE_ROWS * ROW_BYTES
// ~60 MB of CSV, over ten times what loopback socket buffers take from a client that never reads.
const CSV_BYTES = MEMBERS * ROW_BYTES
const STALL_MS = 4000

/** Sends the export request and never reads the response (no `data` listener, paused). */
function neverReadingExport (port: number, slug: string, token: string): net.Socket {
  const socket = net.connect({ port, host: '127.0.0.1' })
  socket.pause()
  socket.write(`POST /v2/orgs/${slug}/members/export HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${token}\r\ncontent-length: 0\r\n\r\n`)
  return socket
}

/** Reads what the client had left unread until the connection ends; the last bytes tell whether the chunked body was finished. */
async function drainClient (socket: net.Socket): Promise<{ bytes: number, tail: string, how: string }> {
  return await new Promise((resolve) => {
    let bytes = 0
    let tail = ''
    const done = (how: string) => () => resolve({ bytes, tail, how })
    socket.on('data', (chunk: Buffer) => { bytes += chunk.length; tail = (tail + chunk.toString('latin1')).slice(-16) })
    socket.once('end', done('end'))
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? 'error')())
    socket.resume()
  })
}

/** Waits until `socket` has taken at least `min` bytes and then nothing more for `quietMs`. */
async function stuckAt (socket: net.Socket, min: number, quietMs: number): Promise<number> {
  let last = -1
  let since = Date.now()
  for (let i = 0; i < 400; i++) {
    const now = socket.bytesWritten
    if (now !== last) { last = now; since = Date.now() } else if (now >= min && Date.now() - since >= quietMs) return now
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`the server never stopped writing (at ${last} bytes)`)
}

t.test('a client that never reads: bounded output, cut off after the stall timeout, connection and slot released', async (t) => {
  const ctx = await buildTestApp(t, { EXPORT_PAGE_SIZE: String(PAGE_ROWS), EXPORT_STALL_MS: String(STALL_MS) })
  const owner = await ownerWithOrg(ctx)
  await seedFatMembers(ctx.app, owner.orgId, MEMBERS, ROW_BYTES)
  const port = await listen(ctx.app)
  const serverSockets = new Map<number, net.Socket>()
  ctx.app.server.on('connection', (s: net.Socket) => serverSockets.set(s.remotePort!, s))

  // Both of the org's export slots, held by clients that read nothing.
  const clients = Array.from({ length: MEMBER_EXPORT_SLOTS }, () => neverReadingExport(port, owner.slug, owner.token))
  await eventually(async () => clients.every((c) => c.localPort !== undefined && serverSockets.has(c.localPort)), 'the server accepted both connections')
  const servers = clients.map((c) => serverSockets.get(c.localPort!)!)

  // More than a page went out (the export is streaming), then the server stopped: it waits for
  // `drain` instead of buffering the rest of the file in memory.
  const stuck = await Promise.all(servers.map(async (s) => await stuckAt(s, 2 * PAGE_BYTES, 1000)))
  for (const [i, s] of servers.entries()) {
    t.notOk(s.destroyed, `export ${i} is held, inside the stall window`)
    t.ok(stuck[i]! < CSV_BYTES / 5, `export ${i}: the server accepted ${stuck[i]} of ${CSV_BYTES} bytes, then stopped`)
    t.ok(s.writableLength <= 2 * PAGE_BYTES, `export ${i}: at most two pages wait in process memory (${s.writableLength} bytes)`)
  }
  if (onPostgres) t.equal(await openExportBackends(ctx.app), MEMBER_EXPORT_SLOTS, 'each stuck export holds its session')
  const third = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members/export`, headers: bearer(owner.token) })
  t.equal(third.statusCode, 429, 'the slots are taken while the clients are stuck')

  await eventually(async () => servers.every((s) => s.destroyed), 'the server destroys the stalled sockets', 2 * STALL_MS / 50)
  servers.forEach((s, i) => t.equal(s.bytesWritten, stuck[i], `export ${i}: nothing more was written during the stall`))

  for (const c of clients) {
    const rest = await drainClient(c)
    t.notOk(rest.tail.endsWith('\r\n0\r\n\r\n'), `the client sees the connection ${rest.how} without the final chunk`)
    t.ok(rest.bytes < CSV_BYTES / 5, 'and far less than the whole file')
  }

  // Each export's audit entry is written once its session has closed, a moment after the cut.
  const exported = async () => await ctx.app.db.selectFrom('audit_events').select('metadata').where('org_id', '=', owner.orgId)
    .where('action', '=', 'members.exported').execute()
  await eventually(async () => (await exported()).length >= MEMBER_EXPORT_SLOTS, 'both exports audited')
  const events = await exported()
  const outcomes = events.map((e) => e.metadata as { outcome: string, rows: number })
  t.same(outcomes.map((o) => o.outcome), ['stalled', 'stalled'], 'both exports recorded as stalled')
  for (const o of outcomes) t.ok(o.rows >= PAGE_ROWS && o.rows < MEMBERS / 5, `rows written before the stall: ${o.rows}`)

  if (onPostgres) {
    await eventually(async () => (await openExportBackends(ctx.app)) === 0, 'no export session left on the server')
    t.equal(exportPoolInUse(ctx), 0, 'export pool back at its baseline')
  }
  // Both slots free again: two new exports start at once.
  const again = [await startExport(port, owner.slug, owner.token), await startExport(port, owner.slug, owner.token)]
  t.same(again.map((r) => r.statusCode), [200, 200], 'both slots were released')
  for (const r of again) r.destroy()
})
