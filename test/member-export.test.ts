// The member export's HTTP contract and file format, on both databases.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { bearer, buildTestApp, databaseName, ownerWithOrg } from './helper.ts'
import { eventually, insertMembers, parseCsv } from './export-helper.ts'
import { insertApiKey } from '../src/db/api-keys.ts'
import { unprefixCell } from '../src/lib/csv.ts'

t.comment(`database: ${databaseName}`)

const HEADER = 'id,userId,email,firstName,lastName,fullName,roleSlug,status,groups,joinedVia,joinedAt,invitedBy,invitedAt,createdAt,updatedAt'
const url = (slug: string, query = ''): string => `/v2/orgs/${slug}/members/export${query}`

t.test('401, 403 and 404 are JSON, before anything is streamed', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const none = await ctx.app.inject({ method: 'POST', url: url(owner.slug) })
  t.equal(none.statusCode, 401)
  t.match(none.json(), { error: 'AuthenticationError', message: String })
  t.match(none.headers['content-type'], /application\/json/)
  const stranger = await ctx.app.inject({ method: 'POST', url: url(owner.slug), headers: bearer(ctx.token()) })
  t.equal(stranger.statusCode, 404)
  t.match(stranger.json(), { error: 'NotFoundError' })
  const readOnly = await insertApiKey(ctx.app.db, { orgId: owner.orgId, orgSlug: owner.slug, slug: `k-${randomUUID().slice(0, 8)}`, name: 'k', permissions: ['orgs:read'] })
  const forbidden = await ctx.app.inject({ method: 'POST', url: url(owner.slug), headers: { 'x-prismeai-api-key': readOnly.raw } })
  t.equal(forbidden.statusCode, 403)
  t.match(forbidden.json(), { error: 'ForbiddenError', message: /orgs:members:read/ })
  const reader = await insertApiKey(ctx.app.db, { orgId: owner.orgId, orgSlug: owner.slug, slug: `k-${randomUUID().slice(0, 8)}`, name: 'k', permissions: ['orgs:members:read'] })
  const byKey = await ctx.app.inject({ method: 'POST', url: url(owner.slug), headers: { 'x-prismeai-api-key': reader.raw } })
  t.equal(byKey.statusCode, 200)
})

t.test('headers, and the header row for an org with no matching member', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const res = await ctx.app.inject({ method: 'POST', url: url(owner.slug, '?status=suspended'), headers: { ...bearer(owner.token), 'x-request-id': 'req-export-1' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/csv; charset=utf-8')
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers['x-request-id'], 'req-export-1')
  t.notOk(res.headers['content-length'])
  t.match(res.headers['content-disposition'],
    new RegExp(`^attachment; filename="${owner.slug}-members-\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d\\.csv"; filename\\*=UTF-8''${owner.slug}-members-`))
  t.equal(res.body, HEADER + '\r\n')
  const bom = await ctx.app.inject({ method: 'POST', url: url(owner.slug, '?status=suspended&bom=true'), headers: bearer(owner.token) })
  t.equal(bom.rawPayload.subarray(0, 3).toString('hex'), 'efbbbf')
  t.equal(bom.body, '\uFEFF' + HEADER + '\r\n')
  // The audit event is written once the stream has ended.
  const exported = () => ctx.app.db.selectFrom('audit_events').selectAll().where('org_id', '=', owner.orgId).where('action', '=', 'members.exported').orderBy('created_at').execute()
  await eventually(async () => (await exported()).length === 2, 'two audit events')
  const audit = await exported()
  t.match(audit[0]?.metadata, { filters: { status: 'suspended' }, rows: 0, outcome: 'complete' })
  t.equal(audit[0]?.request_id, 'req-export-1')
})

t.test('every CSV rule, checked with a strict parser', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const tricky = ['a,b', 'say "hi"', 'two\r\nlines', 'lf\nonly', '=SUM(A1:A9)', '+1', '-1', '@me', '\ttab', '\rcr', "'quoted", "''two", 'Ünïcødé 日本 😀', 'pipe|x']
  await insertMembers(ctx.app, owner.orgId, tricky.map((name, i) => ({
    email: `${i}-${randomUUID()}@example.com`, givenName: name, familyName: i === 0 ? null : 'x', fullName: name, groups: i % 2 === 0 ? ['g-b', 'g-a'] : []
  })))
  const res = await ctx.app.inject({ method: 'POST', url: url(owner.slug), headers: bearer(owner.token) })
  t.equal(res.statusCode, 200)
  t.ok(res.body.startsWith(HEADER + '\r\n'))
  t.ok(res.body.endsWith('\r\n'))
  t.notOk(res.body.includes('[object Object]'))
  const rows = parseCsv(res.body)
  t.equal(rows.length, tricky.length + 1)
  const byName = new Map(rows.map((r) => [unprefixCell(r.firstName!), r]))
  for (const [i, name] of tricky.entries()) {
    const row = byName.get(name)
    t.ok(row, `row for ${JSON.stringify(name)}`)
    if (!row) continue
    t.equal(unprefixCell(row.fullName!), name)
    t.equal(row.firstName!.startsWith("'"), /^[=+\-@\t\r']/.test(name), `prefix rule for ${JSON.stringify(name)}`)
    t.equal(row.lastName, i === 0 ? '' : 'x', 'null is empty')
    t.equal(row.groups, i % 2 === 0 ? 'g-a;g-b' : '')
    t.match(row.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
    t.equal(row.invitedAt, '')
  }
  // Quoted exactly when needed: a field with a comma, quote, CR or LF.
  t.ok(res.body.includes(',"a,b",'))
  t.ok(res.body.includes(',"say ""hi""",'))
  t.ok(res.body.includes(',"two\r\nlines",'))
  t.ok(res.body.includes(",'=SUM(A1:A9),"))
})

t.test('filters and columns', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  await insertMembers(ctx.app, owner.orgId, [
    { email: 'ann@example.com', givenName: 'Ann', roleSlug: 'admin', groups: ['red'], createdAt: '2020-01-01T00:00:00.000001Z' },
    { email: 'bob@example.com', givenName: 'Bob', status: 'suspended', groups: ['blue'], createdAt: '2021-01-01T00:00:00Z' },
    { email: 'cy@example.com', givenName: 'Cy', status: 'invited', createdAt: '2022-01-01T00:00:00Z' }
  ])
  const emails = async (query: string, payload?: object): Promise<string[]> => {
    const res = await ctx.app.inject({ method: 'POST', url: url(owner.slug, query), headers: bearer(owner.token), ...(payload ? { payload } : {}) })
    t.equal(res.statusCode, 200, query)
    return parseCsv(res.body).map((r) => r.email!).filter((e) => !e.startsWith('owner-'))
  }
  t.same(await emails('?status=suspended'), ['bob@example.com'])
  t.same(await emails('?roleSlug=admin'), ['ann@example.com'])
  t.same(await emails('?group=red'), ['ann@example.com'])
  t.same(await emails('?q=BO'), ['bob@example.com'])
  t.same(await emails('?q=%25'), [], 'LIKE wildcards are literal')
  t.same(await emails('?createdAfter=2020-06-01T00:00:00Z&createdBefore=2022-01-01T00:00:00Z'), ['bob@example.com'])
  t.same(await emails('?createdAfter=2020-01-01T00:00:00.000001Z&createdBefore=2020-06-01T00:00:00Z'), ['ann@example.com'], 'microsecond bound')
  t.same(await emails('?status=active', { status: 'invited' }), ['cy@example.com'], 'the body wins')

  const subset = await ctx.app.inject({ method: 'POST', url: url(owner.slug, '?columns=status,email&status=invited'), headers: bearer(owner.token) })
  t.equal(subset.body, 'status,email\r\ninvited,cy@example.com\r\n')
  const bodyCols = await ctx.app.inject({ method: 'POST', url: url(owner.slug), headers: bearer(owner.token), payload: { columns: ['groups'], group: 'blue' } })
  t.equal(bodyCols.body, 'groups\r\nblue\r\n')

  for (const [query, payload, field] of [
    ['?columns=email,password', undefined, 'querystring/columns'],
    ['?columns=email,email', undefined, 'querystring/columns'],
    ['', { columns: ['email', 'nope'] }, 'body/columns'],
    ['?status=gone', undefined, 'querystring/status'],
    ['?createdAfter=yesterday', undefined, 'querystring/createdAfter'],
    ['', { bogus: 1 }, 'body/bogus'],
    ['?createdAfter=2022-01-01T00:00:00Z&createdBefore=2021-01-01T00:00:00Z', undefined, 'createdAfter']
  ] as const) {
    const res = await ctx.app.inject({ method: 'POST', url: url(owner.slug, query), headers: bearer(owner.token), ...(payload ? { payload } : {}) })
    t.equal(res.statusCode, 400, `${query} ${JSON.stringify(payload)}`)
    t.match(res.json(), { error: 'ValidationError', details: [{ field }] })
  }
})

t.test('microsecond-tied createdAt values across page and statement boundaries appear exactly once', async (t) => {
  // Pages of 10; on the embedded database a statement reads ten pages, so rows 97-111 (the 15
  // tied at .123456) straddle the end of the first statement there.
  const ctx = await buildTestApp(t, { EXPORT_PAGE_SIZE: '10' })
  const owner = await ownerWithOrg(ctx)
  const at = (us: string): string => `2024-05-05T05:05:05.${us}Z`
  const specs = [
    ...Array.from({ length: 90 }, () => ({ createdAt: at('123458') })),
    ...Array.from({ length: 15 }, () => ({ createdAt: at('123456') })),
    ...Array.from({ length: 6 }, () => ({ createdAt: at('123455') })),
    ...Array.from({ length: 6 }, () => ({ createdAt: at('123457') }))
  ]
  const ids = await insertMembers(ctx.app, owner.orgId, specs)
  const res = await ctx.app.inject({ method: 'POST', url: url(owner.slug, '?columns=id,createdAt&createdBefore=2025-01-01T00:00:00Z'), headers: bearer(owner.token) })
  const rows = parseCsv(res.body)
  t.equal(rows.length, ids.length)
  t.same(new Set(rows.map((r) => r.id)), new Set(ids))
  const expected = [...rows].sort((a, b) => (b.createdAt! + b.id!).localeCompare(a.createdAt! + a.id!))
  t.same(rows, expected, 'createdAt desc, id desc')
  t.equal(rows.filter((r) => r.createdAt === at('123456')).length, 15)
})

t.test('filter values are data, whatever they hold: COPY takes no bind parameters, so they are written in as literals', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const names = ["O'Brien", 'back\\slash', 'dollar $1 $$ x', 'E\'x\'', 'semi; drop table users; --']
  await insertMembers(ctx.app, owner.orgId, names.map((name, i) => ({ email: `m${i}-${randomUUID()}@example.com`, givenName: name })))
  const matching = async (q: string): Promise<string[]> => {
    const res = await ctx.app.inject({ method: 'POST', url: url(owner.slug), headers: bearer(owner.token), payload: { q, columns: ['firstName'] } })
    t.equal(res.statusCode, 200, `q=${JSON.stringify(q)}`)
    return parseCsv(res.body).map((r) => unprefixCell(r.firstName!)).filter((n) => names.includes(n)).sort()
  }
  // Each hostile name finds itself, and only the names that contain it.
  for (const name of names) t.same(await matching(name), names.filter((n) => n.toLowerCase().includes(name.toLowerCase())).sort(), `q=${JSON.stringify(name)}`)
  for (const q of ["'", '\\', '$1', "'; select pg_sleep(5); --", "\\'", '%', '_']) {
    t.same(await matching(q), names.filter((n) => n.toLowerCase().includes(q.toLowerCase())).sort(), `q=${JSON.stringify(q)}`)
  }
  const users = await ctx.app.db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  t.ok(Number(users.n) >= names.length, 'the users table is still there')
})
