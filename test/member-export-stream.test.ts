// The member export as a stream over a real socket: client aborts, a stalled client, a killed
// database session, the per-org limit, the export pool, and the snapshot.
import t from 'tap'
import { sql } from 'kysely'
import { bearer, buildTestApp, databaseName, onPostgres, ownerWithOrg, randomSlug } from './helper.ts'
import { openExportSession } from '../src/db/export-session.ts'
import { MEMBER_EXPORT_COLUMNS, memberCsvPages } from '../src/db/member-export.ts'
import { eventually, exportPoolInUse, firstChunkThenPause, insertMembers, listen, openExportBackends, parseCsv, readAll, seedFatMembers, startExport } from './export-helper.ts'

t.comment(`database: ${databaseName}`)

// ~15 MB: a paused client fills the socket buffers long before the last page.
const MEMBERS = 3000
const SMALL_PAGES = { EXPORT_PAGE_SIZE: '100' }

async function lastOutcome (ctx: { app: any }, orgId: string): Promise<string | undefined> {
  const row = await ctx.app.db.selectFrom('audit_events').select('metadata').where('org_id', '=', orgId)
    .where('action', '=', 'members.exported').orderBy('created_at', 'desc').executeTakeFirst()
  return row?.metadata?.outcome
}

t.test('a client that aborts after the first chunk: the loop stops and the session is released', async (t) => {
  const ctx = await buildTestApp(t, SMALL_PAGES)
  const owner = await ownerWithOrg(ctx)
  await seedFatMembers(ctx.app, owner.orgId, MEMBERS)
  const port = await listen(ctx.app)
  const res = await startExport(port, owner.slug, owner.token)
  t.equal(res.statusCode, 200)
  await firstChunkThenPause(res)
  res.destroy()
  await eventually(async () => (await lastOutcome(ctx, owner.orgId)) === 'aborted', 'the export records an aborted outcome')
  if (onPostgres) {
    await eventually(async () => (await openExportBackends(ctx.app)) === 0, 'no export session left on the server')
    t.equal(exportPoolInUse(ctx), 0, 'export pool back at its baseline')
    // The outcome's audit entry is visible as it commits, a moment before its connection is released.
    const inUse = () => ctx.app.database.pool!.totalCount - ctx.app.database.pool!.idleCount
    await eventually(async () => inUse() === 0, 'the request pool back at its baseline')
    t.equal(inUse(), 0, 'request pool back at its baseline')
  }
  const again = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members/export?columns=id`, headers: bearer(owner.token) })
  t.equal(again.statusCode, 200)
  t.equal(parseCsv(again.body).length, MEMBERS + 1)
})

t.test('a client that stops reading is cut off after EXPORT_STALL_MS', async (t) => {
  const ctx = await buildTestApp(t, { ...SMALL_PAGES, EXPORT_STALL_MS: '100' })
  const owner = await ownerWithOrg(ctx)
  await seedFatMembers(ctx.app, owner.orgId, MEMBERS)
  const port = await listen(ctx.app)
  const res = await startExport(port, owner.slug, owner.token)
  await firstChunkThenPause(res)
  await eventually(async () => (await lastOutcome(ctx, owner.orgId)) === 'stalled', 'the export gives up on the stalled client')
  t.equal((await readAll(res)).complete, false, 'the client sees an incomplete transfer')
  if (onPostgres) t.equal(await openExportBackends(ctx.app), 0)
})

t.test('at most 2 concurrent exports per org: the third gets 429', async (t) => {
  const ctx = await buildTestApp(t, SMALL_PAGES)
  const owner = await ownerWithOrg(ctx)
  await seedFatMembers(ctx.app, owner.orgId, MEMBERS)
  const port = await listen(ctx.app)
  const held = [await startExport(port, owner.slug, owner.token), await startExport(port, owner.slug, owner.token)]
  for (const res of held) await firstChunkThenPause(res)
  const third = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members/export`, headers: bearer(owner.token) })
  t.equal(third.statusCode, 429)
  t.match(third.json(), { error: 'RateLimitError', message: /2 exports/, retryAfterMs: Number })
  t.ok(Number(third.headers['retry-after']) >= 1, 'Retry-After')
  t.equal((await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}`, headers: bearer(owner.token) })).statusCode, 200,
    'ordinary requests still served')
  for (const res of held) res.destroy()
  await eventually(async () => {
    const res = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members/export?status=suspended&columns=id`, headers: bearer(owner.token) })
    return res.statusCode === 200
  }, 'slots freed once the clients leave')
})

t.test('exports never take the connections ordinary requests need', { skip: onPostgres ? false : 'PostgreSQL only: the embedded database has no pool' }, async (t) => {
  // A request that found no free connection would be a 503 after DB_ACQUIRE_TIMEOUT_MS, not a 2xx.
  const ctx = await buildTestApp(t, { ...SMALL_PAGES, EXPORT_POOL_MAX: '2', DB_POOL_MAX: '2', DB_ACQUIRE_TIMEOUT_MS: '1000' })
  const orgs = [await ownerWithOrg(ctx), await ownerWithOrg(ctx), await ownerWithOrg(ctx)]
  for (const o of orgs.slice(0, 2)) await seedFatMembers(ctx.app, o.orgId, MEMBERS)
  const port = await listen(ctx.app)
  const held = [await startExport(port, orgs[0]!.slug, orgs[0]!.token), await startExport(port, orgs[1]!.slug, orgs[1]!.token)]
  for (const res of held) await firstChunkThenPause(res)
  const busy = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${orgs[2]!.slug}/members/export`, headers: bearer(orgs[2]!.token) })
  t.equal(busy.statusCode, 429, 'a full export pool answers 429 at once instead of queueing')
  t.match(busy.json(), { error: 'RateLimitError', retryAfterMs: Number })
  t.equal(exportPoolInUse(ctx), 2, 'the export pool is exhausted')
  const members = `/v2/orgs/${orgs[2]!.slug}/members`
  const ordinary = [
    { method: 'GET', url: `/v2/orgs/${orgs[2]!.slug}` },
    { method: 'GET', url: members },
    { method: 'POST', url: members, payload: { users: [{ email: `pool-${randomSlug()}@example.com` }] } },
    { method: 'GET', url: `/v2/orgs/${orgs[0]!.slug}/members?limit=5` }
  ] as const
  for (const r of ordinary) {
    const res = await ctx.app.inject({ ...r, headers: bearer(r.url.includes(orgs[0]!.slug) ? orgs[0]!.token : orgs[2]!.token) })
    t.ok(res.statusCode === 200 || res.statusCode === 201, `${r.method} ${r.url} served while two exports hold their connections (${res.statusCode})`)
  }
  for (const res of held) res.destroy()
  await eventually(async () => exportPoolInUse(ctx) === 0, 'both export connections returned')
})

t.test('pg_terminate_backend mid-stream: an incomplete transfer, and the next request succeeds',
  { skip: onPostgres ? false : 'PostgreSQL only: the embedded database has no backend to terminate' }, async (t) => {
    const ctx = await buildTestApp(t, SMALL_PAGES)
    const owner = await ownerWithOrg(ctx)
    await seedFatMembers(ctx.app, owner.orgId, MEMBERS)
    const port = await listen(ctx.app)
    const res = await startExport(port, owner.slug, owner.token)
    await firstChunkThenPause(res)
    const killed = await sql<{ ok: boolean }>`select pg_terminate_backend(pid) as ok from pg_stat_activity
      where application_name = 'orgroster-export' and datname = current_database() and state <> 'idle'`.execute(ctx.app.db)
    t.same(killed.rows, [{ ok: true }], 'the export session was found and terminated')
    const { complete } = await readAll(res)
    t.equal(complete, false, 'the client sees an incomplete transfer, not a short file that looks whole')
    await eventually(async () => (await lastOutcome(ctx, owner.orgId)) === 'failed', 'the failure is recorded')
    t.equal(exportPoolInUse(ctx), 0, 'the broken connection left the pool')
    const next = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members/export?columns=id`, headers: bearer(owner.token) })
    t.equal(next.statusCode, 200)
    t.equal(parseCsv(next.body).length, MEMBERS + 1)
  })

t.test('snapshot: rows added during an export do not appear in it',
  { skip: onPostgres ? false : 'PostgreSQL only: on the embedded database each page is its own statement' }, async (t) => {
    const ctx = await buildTestApp(t, SMALL_PAGES)
    const owner = await ownerWithOrg(ctx)
    await seedFatMembers(ctx.app, owner.orgId, MEMBERS)
    const port = await listen(ctx.app)
    // With the long names (15 MB): ids alone would fit in the socket buffers, and the export could
    // finish before the rows are added.
    const res = await startExport(port, owner.slug, owner.token, '?columns=id,fullName')
    const first = await firstChunkThenPause(res)
    // Older than every seeded member, so a non-snapshot export would reach them on its last pages.
    const added = await insertMembers(ctx.app, owner.orgId, Array.from({ length: 5 }, () => ({ createdAt: '2000-01-01T00:00:00Z' })))
    t.ok(await openExportBackends(ctx.app) >= 1, 'the export was still running when the rows were added')
    const rest = await readAll(res)
    t.equal(rest.complete, true)
    const ids = parseCsv(first + rest.body).map((r) => r.id)
    t.equal(ids.length, MEMBERS + 1)
    t.same(ids.filter((id) => added.includes(id!)), [])
  })

t.test('on PostgreSQL the export is one COPY statement, held back while the client does not read',
  { skip: onPostgres ? false : 'PostgreSQL only: the embedded database writes a statement\'s whole output at once, so there each page is its own statement' }, async (t) => {
    const ctx = await buildTestApp(t, SMALL_PAGES)
    const owner = await ownerWithOrg(ctx)
    await seedFatMembers(ctx.app, owner.orgId, MEMBERS)
    const port = await listen(ctx.app)
    const res = await startExport(port, owner.slug, owner.token)
    const first = await firstChunkThenPause(res)
    // The socket buffers fill, the pages stop being asked for, the connection is no longer read:
    // the database waits to send, in the middle of the one statement that is the whole export.
    const backend = async () => (await sql<{ query: string, wait_event: string | null, xact_start: Date }>`select query, wait_event, xact_start
      from pg_stat_activity where application_name = 'orgroster-export' and datname = current_database() and state = 'active'`.execute(ctx.app.db)).rows
    await eventually(async () => (await backend())[0]?.wait_event === 'ClientWrite', 'the export backend waits on its client')
    const [running] = await backend()
    t.match(running!.query, /^copy \(select /, 'a COPY')
    t.notMatch(running!.query, /\blimit\b/i, 'of the whole export, not of a page')
    const rest = await readAll(res)
    t.equal(rest.complete, true)
    t.equal(parseCsv(first + rest.body).length, MEMBERS + 1, 'every member, once')
  })

t.test('an export session plans for a stream: no parallel workers, a sort only as a last resort, no JIT',
  { skip: onPostgres ? false : 'PostgreSQL only: planner settings of the export pool' }, async (t) => {
    const ctx = await buildTestApp(t)
    const session = await openExportSession(ctx.app.database, { maxSeconds: 60, stallMs: 1000 })
    try {
      const [row] = await session.rows(sql`select current_setting('max_parallel_workers_per_gather'), current_setting('enable_sort'), current_setting('jit')`.compile(session.db))
      t.same(row, ['0', 'off', 'off'])
    } finally {
      await session.close()
    }
  })

t.test('every page of the export ends at a record end, whatever the chunks the database hands on', async (t) => {
  // Records of ~5 KB in pages of at least 10: the 64 KB chunks end inside records again and again.
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  await seedFatMembers(ctx.app, owner.orgId, 400)
  const pages = memberCsvPages(ctx.app.database, owner.orgId, {}, MEMBER_EXPORT_COLUMNS, { pageSize: 10, maxSeconds: 60, stallMs: 60_000, slots: 2 })
  const ids: string[] = []
  let count = 0
  for await (const page of pages) {
    const text = page.csv.toString('utf8')
    const records = text.split('\r\n')
    t.equal(records.pop(), '', `page ${count} ends with CRLF`)
    if (records.length !== page.rows) t.fail(`page ${count}: ${records.length} records, ${page.rows} counted`)
    for (const r of records) ids.push(r.slice(0, r.indexOf(',')))
    page.sent?.()
    count++
  }
  t.ok(count > 20, `${count} pages of at least 10 records`)
  t.equal(ids.length, 401)
  t.equal(new Set(ids).size, 401, 'no record repeats or is cut')
})
