// @orgroster/sdk against a real listening server, over HTTP, on both databases.
import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { createOrgroster, isOrgrosterError, OrgrosterError, unwrap, type ApiErrorBody } from '../packages/sdk/src/index.ts'
import { insertApiKey } from '../src/db/api-keys.ts'
import { seedMembers } from '../src/db/seed.ts'
import { databaseName, ownerWithOrg, randomSlug } from './helper.ts'
import { listenTestApp } from './listen.ts'
import { parseCsv, seedFatMembers } from './export-helper.ts'

function scratchDir (t: { teardown: (fn: () => unknown) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'orgroster-sdk-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.comment(`database: ${databaseName}`)

t.test('typed calls: create, read, list, update an organization', async (t) => {
  const ctx = await listenTestApp(t)
  const api = createOrgroster({ baseUrl: ctx.baseUrl, token: ctx.token({ email: 'sdk@example.com' }) })
  const slug = randomSlug()

  const created = await unwrap(api.POST('/v2/orgs', { body: { name: 'SDK Org', slug } }))
  t.match(created, { slug, name: 'SDK Org', status: 'active', defaultRole: 'member' })

  const { data, error, response } = await api.GET('/v2/orgs/{orgSlug}', { params: { path: { orgSlug: slug } } })
  t.equal(response.status, 200)
  t.equal(error, undefined)
  t.same(data, created)

  const mine = await unwrap(api.GET('/v2/orgs', { params: { query: { search: slug, limit: 5 } } }))
  t.same(mine.results.map((o) => o.slug), [slug])
  const renamed = await unwrap(api.PATCH('/v2/orgs/{orgSlug}', { params: { path: { orgSlug: slug } }, body: { name: 'Renamed' } }))
  t.equal(renamed.name, 'Renamed')
})

t.test('errors are values with the documented bodies, or OrgrosterError when unwrapped', async (t) => {
  const ctx = await listenTestApp(t)
  const api = createOrgroster({ baseUrl: ctx.baseUrl, token: () => ctx.token() })

  const missing = await api.GET('/v2/orgs/{orgSlug}', { params: { path: { orgSlug: randomSlug() } } })
  t.equal(missing.response.status, 404)
  t.match(missing.error, { error: 'NotFoundError', message: /not found/, requestId: String })

  const bad = await api.POST('/v2/orgs', { body: { name: 'x', slug: 'Not A Slug' } })
  t.equal(bad.response.status, 400)
  t.match(bad.error, { error: 'ValidationError', details: [{ field: 'body/slug' }] })

  let thrown: unknown
  try {
    await unwrap(api.POST('/v2/orgs', { body: { name: 'x', slug: 'Not A Slug' } }))
  } catch (err) { thrown = err }
  t.ok(isOrgrosterError(thrown, 400))
  const e = thrown as OrgrosterError
  const documented: ApiErrorBody = e.body // the union of every documented error body
  t.ok(documented)
  t.equal(e.kind, 'ValidationError')
  t.equal(e.requestId, (e.body as { requestId?: string }).requestId)
  t.match(e.message, /^400 ValidationError: body\/slug/)

  const anonymous = createOrgroster({ baseUrl: ctx.baseUrl })
  const refused = await anonymous.GET('/v2/orgs')
  t.equal(refused.response.status, 401)
  t.match(refused.error, { error: 'AuthenticationError', message: 'Send a Bearer token' })
})

t.test('an org API key authenticates through the SDK', async (t) => {
  const ctx = await listenTestApp(t)
  const owner = createOrgroster({ baseUrl: ctx.baseUrl, token: ctx.token() })
  const org = await unwrap(owner.POST('/v2/orgs', { body: { name: 'Keyed' } }))
  const { raw } = await insertApiKey(ctx.app.db, { orgId: org.id, orgSlug: org.slug, slug: `k-${randomUUID().slice(0, 8)}`, name: 'k', permissions: ['orgs:read'] })
  const keyed = createOrgroster({ baseUrl: ctx.baseUrl, apiKey: raw })
  t.equal((await unwrap(keyed.GET('/v2/orgs/{orgSlug}', { params: { path: { orgSlug: org.slug } } }))).id, org.id)
  const forbidden = await keyed.PATCH('/v2/orgs/{orgSlug}', { params: { path: { orgSlug: org.slug } }, body: { name: 'no' } })
  t.equal(forbidden.response.status, 403)
  t.match(forbidden.error, { error: 'ForbiddenError', message: /orgs:manage/ })
})

t.test('iterateMembers and iteratePublicMembers walk every page of the cursor', async (t) => {
  const ctx = await listenTestApp(t)
  const owner = await ownerWithOrg(ctx)
  await seedMembers(ctx.app.db, owner.orgId, 230)
  const api = createOrgroster({ baseUrl: ctx.baseUrl, token: owner.token })

  const seen: string[] = []
  const created: string[] = []
  for await (const m of api.iterateMembers(owner.slug, { limit: 50 })) {
    seen.push(m.userId)
    created.push(m.createdAt ?? '')
  }
  t.same(created, [...created].sort().reverse(), 'newest first')
  t.equal(seen.length, 231, 'every membership (the owner and 230 seeded), across 5 pages')
  t.equal(new Set(seen).size, seen.length, 'none twice')

  const suspended = []
  for await (const m of api.iterateMembers(owner.slug, { status: 'suspended' })) suspended.push(m)
  t.ok(suspended.length > 0 && suspended.every((m) => m.status === 'suspended'), 'filters apply to every page')

  const publicIds = []
  for await (const m of api.iteratePublicMembers(owner.orgId, { limit: 40 })) publicIds.push(m.userId)
  const invited = await ctx.app.db.selectFrom('org_memberships').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('org_id', '=', owner.orgId).where('status', '=', 'invited').executeTakeFirstOrThrow()
  t.equal(publicIds.length, 231 - Number(invited.n), 'the public list: members, not invitations')
  t.equal(new Set(publicIds).size, publicIds.length)
  const publicMembers = []
  for await (const m of api.iteratePublicMembers(owner.orgId, { limit: 40 })) publicMembers.push(m)
  const after = []
  for await (const m of api.iteratePublicMembers(owner.orgId, { limit: 7, after: publicMembers[99]!.id })) after.push(m.id)
  t.same(after, publicMembers.slice(100).map((m) => m.id), 'after a member id (the seed\'s cursor), the rest of the list')

  let refused: unknown
  try {
    for await (const m of createOrgroster({ baseUrl: ctx.baseUrl, token: ctx.token() }).iteratePublicMembers(owner.orgId)) t.fail(String(m))
  } catch (err) { refused = err }
  t.ok(isOrgrosterError(refused, 404))
  t.match((refused as OrgrosterError).body, { error: { title: 'NotFound', detail: String } })
  t.equal((refused as OrgrosterError).kind, 'NotFound')
})

t.test('downloadMemberExport writes the CSV to a file or a stream, counting rows', async (t) => {
  const ctx = await listenTestApp(t)
  const owner = await ownerWithOrg(ctx)
  await seedMembers(ctx.app.db, owner.orgId, 120)
  const api = createOrgroster({ baseUrl: ctx.baseUrl, token: owner.token })
  const dir = scratchDir(t)

  const progress: number[] = []
  const file = join(dir, 'members.csv')
  const result = await api.downloadMemberExport(owner.slug, file, { onProgress: (p) => progress.push(p.rows) })
  const rows = parseCsv(readFileSync(file, 'utf8'))
  t.equal(rows.length, 121)
  t.equal(result.rows, 121)
  t.equal(result.bytes, readFileSync(file).length)
  t.match(result.filename, new RegExp(`^${owner.slug}-members-\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d\\.csv$`))
  t.equal(progress.at(-1), 121)
  t.notOk(existsSync(`${file}.part`))

  const sink = new PassThrough()
  const chunks: Buffer[] = []
  sink.on('data', (c: Buffer) => chunks.push(c))
  const filtered = await api.downloadMemberExport(owner.slug, sink, { query: { columns: 'email,status' }, filters: { status: 'suspended' } })
  const text = Buffer.concat(chunks).toString('utf8')
  t.ok(text.startsWith('email,status\r\n'))
  t.equal(filtered.rows, parseCsv(text).length)
  t.ok(parseCsv(text).every((r) => r.status === 'suspended'))

  let error: unknown
  const stranger = createOrgroster({ baseUrl: ctx.baseUrl, token: ctx.token() })
  try { await stranger.downloadMemberExport(owner.slug, join(dir, 'nope.csv')) } catch (err) { error = err }
  t.ok(isOrgrosterError(error, 404))
  t.match((error as OrgrosterError).body, { error: 'NotFoundError' })
  t.notOk(existsSync(join(dir, 'nope.csv')) || existsSync(join(dir, 'nope.csv.part')), 'no file for a refused export')
  let bad: unknown
  try { await api.downloadMemberExport(owner.slug, join(dir, 'bad.csv'), { query: { columns: 'email,nope' } }) } catch (err) { bad = err }
  t.match((bad as OrgrosterError).body, { error: 'ValidationError', message: /unknown column/ })
})

t.test('a download cut short leaves no file behind and rejects', async (t) => {
  const ctx = await listenTestApp(t, { EXPORT_PAGE_SIZE: '100', EXPORT_STALL_MS: '60000' })
  const owner = await ownerWithOrg(ctx)
  await seedFatMembers(ctx.app, owner.orgId, 3000)
  const api = createOrgroster({ baseUrl: ctx.baseUrl, token: owner.token })
  const file = join(scratchDir(t), 'cut.csv')
  let closing: Promise<void> | undefined
  const download = api.downloadMemberExport(owner.slug, file, {
    // The instance shuts down once the first rows arrived: the server cuts the transfer.
    onProgress: (p) => { if (p.rows > 0 && closing === undefined) closing = ctx.app.close() }
  })
  const error = await download.then(() => null, (err: unknown) => err)
  await closing
  t.ok(error instanceof Error, 'the download rejects')
  t.notOk(existsSync(file), 'no short file that looks whole')
  t.notOk(existsSync(`${file}.part`), 'no partial file left')
})

t.test('importMembersCsv streams a file (or text) to the import; export then import round-trips', async (t) => {
  const ctx = await listenTestApp(t)
  const source = await ownerWithOrg(ctx)
  await seedMembers(ctx.app.db, source.orgId, 80)
  const api = createOrgroster({ baseUrl: ctx.baseUrl, token: source.token })
  const target = await unwrap(api.POST('/v2/orgs', { body: { name: 'Import target' } }))
  const file = join(scratchDir(t), 'source.csv')
  await api.downloadMemberExport(source.slug, file)

  const dry = await api.importMembersCsv(target.slug, file, { query: { dryRun: true } })
  t.match(dry, { dryRun: true, failedCount: 0 })
  const result = await api.importMembersCsv(target.slug, file)
  t.match(result, { dryRun: false, created: dry.created, failedCount: 0 })
  t.ok(result.created + result.skipped === 81, 'every row applied or skipped (the importing owner is already a member)')

  const key = (r: Record<string, string>) => [r.userId, r.email, r.roleSlug, r.status, r.groups].join('|')
  const sink = new PassThrough()
  const chunks: Buffer[] = []
  sink.on('data', (c: Buffer) => chunks.push(c))
  await api.downloadMemberExport(target.slug, sink, { query: { columns: 'userId,email,roleSlug,status,groups' } })
  const before = parseCsv(readFileSync(file, 'utf8')).filter((r) => r.roleSlug !== 'owner').map(key).sort()
  const after = parseCsv(Buffer.concat(chunks).toString('utf8')).filter((r) => r.roleSlug !== 'owner').map(key).sort()
  t.same(after, before, 'the imported org exports the same members')

  const text = await api.importMembersCsv(target.slug, { text: 'email,roleSlug\r\nnew-person@example.com,member\r\nbad@example.com,no-such-role\r\n' })
  t.match(text, { created: 1, failedCount: 1, failed: [{ line: 3, message: /role/ }] })

  let refused: unknown
  try { await createOrgroster({ baseUrl: ctx.baseUrl, token: ctx.token() }).importMembersCsv(target.slug, file) } catch (err) { refused = err }
  t.ok(isOrgrosterError(refused, 404))
  t.match((refused as OrgrosterError).body, { error: 'NotFoundError' })
})
