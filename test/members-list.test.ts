import { randomUUID } from 'node:crypto'
import t from 'tap'
import { bearer, buildTestApp, ownerWithOrg, type TestApp } from './helper.ts'
import { seedMembers } from '../src/db/seed.ts'
import { insertApiKey } from '../src/db/api-keys.ts'

async function pageAll (ctx: TestApp, first: string, headers: Record<string, string>, between?: () => Promise<void>) {
  const seen: string[] = []
  let url: string | null = first
  while (url !== null) {
    const res: { statusCode: number, body: string, json: () => any } = await ctx.app.inject({ method: 'GET', url, headers })
    if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`)
    const body: any = res.json()
    const items = body.data ?? body.results
    seen.push(...items.map((m: { id: string }) => m.id))
    const next: string | null = body.pagination ? body.pagination.nextCursor : body.nextCursor
    url = next ? `${first}${first.includes('?') ? '&' : '?'}cursor=${encodeURIComponent(next)}` : null
    if (between) await between()
  }
  return seen
}

t.test('public list: the seed shape, newest first, members only, admins only', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  await seedMembers(ctx.app.db, owner.orgId, 120)
  const url = `/api/public/organizations/${owner.orgId}/members`
  const res = await ctx.app.inject({ method: 'GET', url, headers: bearer(owner.token) })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['data', 'pagination'])
  t.equal(body.data.length, 50, 'default limit 50')
  t.same(Object.keys(body.pagination).sort(), ['hasMore', 'nextCursor'])
  t.equal(body.pagination.hasMore, true)
  const m = body.data[0]
  t.same(Object.keys(m).sort(), ['createdAt', 'deactivatedAt', 'id', 'organizationId', 'role', 'user', 'userId'])
  t.same(Object.keys(m.user).sort(), ['avatarUrl', 'createdAt', 'email', 'firstName', 'fullName', 'id', 'isEmailVerified', 'title'])
  t.equal(m.organizationId, owner.orgId)
  const created = body.data.map((x: { createdAt: string }) => x.createdAt)
  t.same(created, [...created].sort().reverse(), 'newest first')

  const all = await ctx.app.db.selectFrom('org_memberships').select(['id', 'status', 'role_slug', 'deactivated_at']).where('org_id', '=', owner.orgId).execute()
  const ids = await pageAll(ctx, `${url}?limit=17`, bearer(owner.token))
  t.same(new Set(ids), new Set(all.filter((r) => r.status !== 'invited').map((r) => r.id)), 'every member once, no invitations')
  t.equal(ids.length, new Set(ids).size)
  const full = await ctx.app.inject({ method: 'GET', url: `${url}?limit=100`, headers: bearer(owner.token) })
  const byId = new Map(all.map((r) => [r.id, r]))
  for (const member of full.json().data) {
    const row = byId.get(member.id)!
    t.equal(member.role, row.role_slug === 'member' ? 'MEMBER' : 'ADMIN')
    t.equal(member.deactivatedAt, row.status === 'suspended' ? row.deactivated_at : null)
  }

  const viaKey = await insertApiKey(ctx.app.db, { orgId: owner.orgId, orgSlug: owner.slug, slug: 'pub', name: 'pub', permissions: ['orgs:members:manage'] })
  t.equal((await ctx.app.inject({ method: 'GET', url, headers: bearer(viaKey.raw) })).statusCode, 200, 'an org API key as a Bearer token')
  t.equal((await ctx.app.inject({ method: 'GET', url, headers: { 'x-api-key': viaKey.raw } })).statusCode, 200)
})

t.test('public list: errors in the seed body', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const other = await ownerWithOrg(ctx)
  const url = `/api/public/organizations/${owner.orgId}/members`
  const plain = `plain-${randomUUID()}`
  const plainToken = ctx.token({ sub: plain })
  await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(plainToken) })
  const plainUser = await ctx.app.db.selectFrom('users').select('id').where('sub', '=', plain).executeTakeFirstOrThrow()
  await ctx.app.db.insertInto('org_memberships').values({ org_id: owner.orgId, user_id: plainUser.id, role_slug: 'member', status: 'active' }).execute()
  const readKey = await insertApiKey(ctx.app.db, { orgId: owner.orgId, orgSlug: owner.slug, slug: 'ro', name: 'ro', permissions: ['orgs:members:read'] })
  const otherKey = await insertApiKey(ctx.app.db, { orgId: other.orgId, orgSlug: other.slug, slug: 'k', name: 'k', permissions: ['*'] })

  const expect = async (name: string, status: number, title: string, req: { url?: string, headers?: Record<string, string> }) => {
    const res = await ctx.app.inject({ method: 'GET', url: req.url ?? url, headers: req.headers ?? {} })
    t.equal(res.statusCode, status, name)
    t.same(Object.keys(res.json()), ['error'], name)
    t.same(Object.keys(res.json().error).sort(), ['detail', 'title'], name)
    t.equal(res.json().error.title, title, name)
    return res.json().error
  }
  await expect('no credential', 401, 'Unauthorized', {})
  await expect('bad token', 401, 'Unauthorized', { headers: bearer('x.y.z') })
  const hidden = await expect('a plain member', 404, 'NotFound', { headers: bearer(plainToken) })
  const unknown = await expect('unknown org', 404, 'NotFound', { url: `/api/public/organizations/${randomUUID()}/members`, headers: bearer(owner.token) })
  t.same(hidden, unknown, 'not administered looks exactly like not existing')
  // A slug where the id belongs: the same 404, with what to send instead (issue 14).
  const slugGiven = await expect('the slug, not the id', 404, 'NotFound', { url: `/api/public/organizations/${owner.slug}/members`, headers: bearer(owner.token) })
  t.match(slugGiven.detail, /orgId is the organization's id \(a UUID, the id of GET \/v2\/orgs\/\{orgSlug\}\), not its slug/)
  await expect('owner of another org', 404, 'NotFound', { headers: bearer(other.token) })
  await expect('key of another org', 404, 'NotFound', { headers: { 'x-api-key': otherKey.raw } })
  await expect('key without admin permission', 404, 'NotFound', { headers: { 'x-api-key': readKey.raw } })
  for (const q of ['limit=0', 'limit=101', 'limit=-1', 'limit=1.5', 'limit=abc', 'limit=1&limit=2']) {
    const e = await expect(q, 400, 'BadRequest', { url: `${url}?${q}`, headers: bearer(owner.token) })
    t.match(e.detail, /limit/, q)
  }
  await expect('malformed cursor', 400, 'BadRequest', { url: `${url}?cursor=nonsense`, headers: bearer(owner.token) })
  const otherCursor = (await ctx.app.inject({ method: 'GET', url: `/api/public/organizations/${other.orgId}/members?limit=1`, headers: bearer(other.token) }))
  await seedMembers(ctx.app.db, other.orgId, 3)
  const cursor = (await ctx.app.inject({ method: 'GET', url: `/api/public/organizations/${other.orgId}/members?limit=1`, headers: bearer(other.token) })).json().pagination.nextCursor
  t.ok(otherCursor && cursor)
  const e = await expect('a cursor of another org', 400, 'BadRequest', { url: `${url}?cursor=${cursor}`, headers: bearer(owner.token) })
  t.match(e.detail, /not the id of an item of this list/)
})

t.test('listOrgMembers: filters, offset pages with total, keyset pages with nextCursor', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  await seedMembers(ctx.app.db, owner.orgId, 200)
  const base = `/v2/orgs/${owner.slug}/members`
  const get = async (q: string) => {
    const res = await ctx.app.inject({ method: 'GET', url: `${base}?${q}`, headers: bearer(owner.token) })
    t.equal(res.statusCode, 200, q)
    return res.json()
  }
  const first = await get('limit=10')
  t.equal(first.total, 201)
  t.equal(first.results.length, 10)
  t.type(first.nextCursor, 'string')
  const second = await get(`limit=10&cursor=${first.nextCursor}`)
  t.notOk('total' in second, 'cursor pages skip the count')
  t.equal(new Set([...first.results, ...second.results].map((m: { id: string }) => m.id)).size, 20)
  const page3 = await get('limit=10&page=3')
  t.equal(page3.total, 201)
  t.type(page3.nextCursor, 'string', 'an offset page that is not the last has a nextCursor')
  t.equal((await get('limit=10&page=21')).nextCursor, null, 'null on the last page only')
  const keyset3 = await get(`limit=10&cursor=${second.nextCursor}`)
  t.same(page3.results.map((m: { id: string }) => m.id), keyset3.results.map((m: { id: string }) => m.id), 'offset and keyset agree')

  t.ok((await get('status=invited&limit=100')).results.every((m: { status: string }) => m.status === 'invited'))
  t.equal((await get('status=invited&limit=100')).total, 5)
  t.ok((await get('roleSlug=admin&limit=100')).results.every((m: { roleSlug: string }) => m.roleSlug === 'admin'))
  const eng = await get('group=engineering&includeGroups=true&limit=100')
  t.ok(eng.total > 0)
  t.ok(eng.results.every((m: { groups: string[] }) => m.groups.includes('engineering')))
  t.notOk('groups' in first.results[0], 'groups only with includeGroups')
  const ada = await get('q=ADA&limit=100')
  t.ok(ada.total > 0)
  t.ok(ada.results.every((m: { email: string }) => m.email !== undefined))
  const ids = first.results.slice(0, 3).map((m: { userId: string }) => m.userId)
  t.same((await get(`userIds=${ids.join(',')}`)).results.map((m: { userId: string }) => m.userId).sort(), [...ids].sort())
  const asc = await get('sort=createdAt&limit=5')
  t.ok(asc.results[0].createdAt <= asc.results[4].createdAt)

  for (const [q, field] of [['userIds=nope', 'userIds'], ['status=gone', 'status'], ['cursor=abc', 'cursor'], ['sort=createdAt&cursor=' + first.nextCursor, 'cursor'], ['limit=0', 'limit']] as const) {
    const res = await ctx.app.inject({ method: 'GET', url: `${base}?${q}`, headers: bearer(owner.token) })
    t.equal(res.statusCode, 400, q)
    t.match(res.json(), { error: 'ValidationError', message: new RegExp(field) }, q)
  }
})

t.test('paging 1,000 members: no duplicate, no gap, also while members are added between pages', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  await seedMembers(ctx.app.db, owner.orgId, 1000)
  const expected = await ctx.app.db.selectFrom('org_memberships').select('id').where('org_id', '=', owner.orgId).execute()
  const ids = await pageAll(ctx, `/v2/orgs/${owner.slug}/members?limit=100`, bearer(owner.token), async () => { await seedMembers(ctx.app.db, owner.orgId, 3) })
  t.equal(ids.length, expected.length, 'as many as when the walk began: new members are newer than the cursor')
  t.equal(new Set(ids).size, ids.length, 'no duplicate')
  t.same(new Set(ids), new Set(expected.map((r) => r.id)), 'no gap')
  // Ties: every third seeded member shares a created_at, so page boundaries fall inside ties.
  const tied = await ctx.app.db.selectFrom('org_memberships').select('created_at').where('org_id', '=', owner.orgId)
    .groupBy('created_at').having((eb) => eb.fn.countAll(), '>', 1).execute()
  t.ok(tied.length > 0, 'the data has tied timestamps')
})
