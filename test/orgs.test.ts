import t from 'tap'
import { bearer, buildTestApp, databaseName, ownerWithOrg, randomSlug } from './helper.ts'

t.comment(`database: ${databaseName}`)

t.test('organizations: create, read, list, update, delete', async (t) => {
  const ctx = await buildTestApp(t)
  const { app } = ctx
  const token = ctx.token({ email: 'creator@example.com', name: 'Cre Ator' })
  const slug = randomSlug()

  const created = await app.inject({ method: 'POST', url: '/v2/orgs', headers: bearer(token), payload: { name: 'Acme Test', slug, description: 'x' } })
  t.equal(created.statusCode, 201)
  const org = created.json()
  t.match(org, { slug, name: 'Acme Test', description: 'x', status: 'active', defaultRole: 'member' })
  t.match(org.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
  t.ok(created.headers['x-request-id'])

  const got = await app.inject({ method: 'GET', url: `/v2/orgs/${slug}`, headers: bearer(token) })
  t.equal(got.statusCode, 200)
  t.same(got.json(), org)

  const list = await app.inject({ method: 'GET', url: '/v2/orgs?search=acme%20t', headers: bearer(token) })
  t.equal(list.statusCode, 200)
  t.equal(list.json().total, 1)
  t.equal(list.json().results[0].slug, slug)

  const patched = await app.inject({ method: 'PATCH', url: `/v2/orgs/${slug}`, headers: bearer(token), payload: { name: 'Renamed', defaultRole: 'admin' } })
  t.equal(patched.statusCode, 200)
  t.match(patched.json(), { name: 'Renamed', defaultRole: 'admin' })

  const badRole = await app.inject({ method: 'PATCH', url: `/v2/orgs/${slug}`, headers: bearer(token), payload: { defaultRole: 'nope' } })
  t.equal(badRole.statusCode, 400)
  t.match(badRole.json(), { error: 'ValidationError', message: /defaultRole/ })

  const deleted = await app.inject({ method: 'DELETE', url: `/v2/orgs/${slug}`, headers: bearer(token) })
  t.equal(deleted.statusCode, 200)
  t.same(deleted.json(), { success: true })
  const gone = await app.inject({ method: 'GET', url: `/v2/orgs/${slug}`, headers: bearer(token) })
  t.equal(gone.statusCode, 404)
  t.match(gone.json(), { error: 'NotFoundError', message: String })
})

t.test('slugs: derived from the name, taken slug is 409, bad slug is 400', async (t) => {
  const ctx = await buildTestApp(t)
  const token = ctx.token()
  const name = `Héllo World ${randomSlug()}`
  const a = await ctx.app.inject({ method: 'POST', url: '/v2/orgs', headers: bearer(token), payload: { name } })
  t.equal(a.statusCode, 201)
  t.match(a.json().slug, /^hello-world-org-[0-9a-f]+$/)
  const b = await ctx.app.inject({ method: 'POST', url: '/v2/orgs', headers: bearer(token), payload: { name } })
  t.equal(b.statusCode, 201)
  t.not(b.json().slug, a.json().slug)
  const taken = await ctx.app.inject({ method: 'POST', url: '/v2/orgs', headers: bearer(token), payload: { name: 'x', slug: a.json().slug } })
  t.equal(taken.statusCode, 409)
  t.match(taken.json(), { error: 'ConflictError' })
  const bad = await ctx.app.inject({ method: 'POST', url: '/v2/orgs', headers: bearer(token), payload: { name: 'x', slug: 'Not A Slug' } })
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { error: 'ValidationError', message: /slug/, details: [{ field: 'body/slug' }] })
})

t.test('request bodies: unknown properties, wrong types, bad JSON, wrong content type, too large', async (t) => {
  const ctx = await buildTestApp(t)
  const token = ctx.token()
  const unknown = await ctx.app.inject({ method: 'POST', url: '/v2/orgs', headers: bearer(token), payload: { name: 'a', admin: true } })
  t.equal(unknown.statusCode, 400)
  t.match(unknown.json(), { error: 'ValidationError', message: 'body/admin is not an allowed property' })
  const proto = await ctx.app.inject({ method: 'POST', url: '/v2/orgs', headers: { ...bearer(token), 'content-type': 'application/json' }, payload: '{"name":"a","__proto__":{"x":1}}' })
  t.equal(proto.statusCode, 400)
  t.equal(proto.json().error, 'ValidationError')
  const missing = await ctx.app.inject({ method: 'POST', url: '/v2/orgs', headers: bearer(token), payload: {} })
  t.equal(missing.statusCode, 400)
  t.match(missing.json(), { message: 'body/name must have required property \'name\'' })
  const badJson = await ctx.app.inject({ method: 'POST', url: '/v2/orgs', headers: { ...bearer(token), 'content-type': 'application/json' }, payload: '{"name":' })
  t.equal(badJson.statusCode, 400)
  t.equal(badJson.json().error, 'ValidationError')
  const text = await ctx.app.inject({ method: 'POST', url: '/v2/orgs', headers: { ...bearer(token), 'content-type': 'text/plain' }, payload: 'name=a' })
  t.equal(text.statusCode, 415)
  t.equal(text.json().error, 'UnsupportedMediaTypeError')
  const big = await ctx.app.inject({ method: 'POST', url: '/v2/orgs', headers: bearer(token), payload: { name: 'a', description: 'x'.repeat(1024 * 1024) } })
  t.equal(big.statusCode, 413)
  t.equal(big.json().error, 'PayloadTooLargeError')
  const limit = await ctx.app.inject({ method: 'GET', url: '/v2/orgs?limit=0', headers: bearer(token) })
  t.equal(limit.statusCode, 400)
  t.match(limit.json(), { error: 'ValidationError', message: /limit/ })
  for (const q of ['limit=101', 'limit=-1', 'limit=1.5', 'limit=abc', 'limit=1&limit=2']) {
    const res = await ctx.app.inject({ method: 'GET', url: `/v2/orgs?${q}`, headers: bearer(token) })
    t.equal(res.statusCode, 400, q)
    t.match(res.json().message, /limit/, q)
  }
})

t.test('permissions: non-members get 404, members without the permission 403', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const stranger = ctx.token()

  const hidden = await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}`, headers: bearer(stranger) })
  const missing = await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${randomSlug()}`, headers: bearer(stranger) })
  t.equal(hidden.statusCode, 404)
  t.equal(missing.statusCode, 404)
  t.equal(hidden.json().error, missing.json().error)

  for (const [method, payload] of [['PATCH', { name: 'x' }], ['DELETE', undefined]] as const) {
    const res = await ctx.app.inject({ method, url: `/v2/orgs/${owner.slug}`, headers: bearer(stranger), ...(payload ? { payload } : {}) })
    t.equal(res.statusCode, 404, `${method} by a stranger`)
  }

  // A plain member (built-in role `member`) may read but not update or delete.
  const memberSub = `member-${randomSlug()}`
  const memberToken = ctx.token({ sub: memberSub })
  await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(memberToken) })
  const user = await ctx.app.db.selectFrom('users').select('id').where('sub', '=', memberSub).executeTakeFirstOrThrow()
  await ctx.app.db.insertInto('org_memberships').values({ org_id: owner.orgId, user_id: user.id, role_slug: 'member', status: 'active' }).execute()
  t.equal((await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}`, headers: bearer(memberToken) })).statusCode, 200)
  const patch = await ctx.app.inject({ method: 'PATCH', url: `/v2/orgs/${owner.slug}`, headers: bearer(memberToken), payload: { name: 'x' } })
  t.equal(patch.statusCode, 403)
  t.match(patch.json(), { error: 'ForbiddenError', message: /orgs:manage/ })
  const del = await ctx.app.inject({ method: 'DELETE', url: `/v2/orgs/${owner.slug}`, headers: bearer(memberToken) })
  t.equal(del.statusCode, 403)

  const mine = await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(memberToken) })
  t.same(mine.json().results.map((o: { slug: string }) => o.slug), [owner.slug])
})

t.test('mutations write audit events', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  await ctx.app.inject({ method: 'PATCH', url: `/v2/orgs/${owner.slug}`, headers: { ...bearer(owner.token), 'x-request-id': 'req-audit-1' }, payload: { name: 'New' } })
  const events = await ctx.app.db.selectFrom('audit_events').selectAll().where('org_id', '=', owner.orgId).orderBy('created_at').execute()
  t.same(events.map((e) => e.action), ['org.created', 'org.updated'])
  t.equal(events[1]?.actor_kind, 'user')
  t.equal(events[1]?.request_id, 'req-audit-1')
})
