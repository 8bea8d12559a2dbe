import { randomUUID } from 'node:crypto'
import t from 'tap'
import { bearer, buildTestApp, onPostgres, ownerWithOrg, type TestApp } from './helper.ts'

async function joinAs (ctx: TestApp, org: { slug: string, token: string }, roleSlug: string) {
  const sub = `m-${randomUUID()}`
  const token = ctx.token({ sub, email: `${sub}@example.com` })
  await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(token) })
  const user = await ctx.app.db.selectFrom('users').select('id').where('sub', '=', sub).executeTakeFirstOrThrow()
  const res = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${org.slug}/members`, headers: bearer(org.token), payload: { users: [{ userId: user.id, roleSlug }] } })
  if (res.statusCode !== 201) throw new Error(res.body)
  return { token, userId: user.id }
}

t.test('one member: get, change role, suspend and reactivate, remove', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const m = await joinAs(ctx, owner, 'member')
  const url = `/v2/orgs/${owner.slug}/members/${m.userId}`
  t.match((await ctx.app.inject({ method: 'GET', url, headers: bearer(owner.token) })).json(), { userId: m.userId, roleSlug: 'member', status: 'active', groups: [] })
  const promoted = await ctx.app.inject({ method: 'PATCH', url, headers: bearer(owner.token), payload: { roleSlug: 'admin' } })
  t.match(promoted.json(), { roleSlug: 'admin', updatedBy: String })
  const suspended = await ctx.app.inject({ method: 'PATCH', url, headers: bearer(owner.token), payload: { status: 'suspended' } })
  t.match(suspended.json(), { status: 'suspended', deactivatedAt: String })
  t.equal((await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}`, headers: bearer(m.token) })).statusCode, 404, 'a suspended member loses access')
  const back = await ctx.app.inject({ method: 'PATCH', url, headers: bearer(owner.token), payload: { status: 'active' } })
  t.match(back.json(), { status: 'active' })
  t.notOk('deactivatedAt' in back.json())
  for (const [payload, pattern] of [[{ roleSlug: 'nope' }, /roleSlug/], [{ status: 'invited' }, /status/], [{}, /body/], [{ role: 'admin' }, /role/]] as const) {
    const res = await ctx.app.inject({ method: 'PATCH', url, headers: bearer(owner.token), payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.match(res.json(), { error: 'ValidationError', message: pattern })
  }
  t.equal((await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/members/not-a-uuid`, headers: bearer(owner.token) })).statusCode, 400)
  t.equal((await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/members/${randomUUID()}`, headers: bearer(owner.token) })).json().error, 'NotFoundError')
  t.same((await ctx.app.inject({ method: 'DELETE', url, headers: bearer(owner.token) })).json(), { success: true })
  t.equal((await ctx.app.inject({ method: 'DELETE', url, headers: bearer(owner.token) })).statusCode, 404)
  const actions = (await ctx.app.db.selectFrom('audit_events').select('action').where('org_id', '=', owner.orgId).orderBy('created_at').execute()).map((e) => e.action)
  t.same(actions.filter((a) => a.startsWith('member')), ['members.added', 'member.updated', 'member.updated', 'member.updated', 'members.removed'])
})

t.test('the last owner cannot be removed, suspended or demoted', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const me = await ctx.app.db.selectFrom('users').select('id').where('sub', '=', owner.sub).executeTakeFirstOrThrow()
  const url = `/v2/orgs/${owner.slug}/members/${me.id}`
  for (const [method, payload] of [['PATCH', { roleSlug: 'admin' }], ['PATCH', { status: 'suspended' }], ['DELETE', undefined]] as const) {
    const res = await ctx.app.inject({ method, url, headers: bearer(owner.token), ...(payload ? { payload } : {}) })
    t.equal(res.statusCode, 409, `${method} ${JSON.stringify(payload)}`)
    t.match(res.json(), { error: 'ConflictError', message: /at least one active owner/ })
  }
  const bulk = await ctx.app.inject({ method: 'DELETE', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { userIds: [me.id] } })
  t.equal(bulk.statusCode, 409)
  const second = await joinAs(ctx, owner, 'owner')
  t.equal((await ctx.app.inject({ method: 'PATCH', url, headers: bearer(owner.token), payload: { roleSlug: 'admin' } })).statusCode, 200, 'with a second owner, the first may step down')
  const last = await ctx.app.inject({ method: 'DELETE', url: `/v2/orgs/${owner.slug}/members/${second.userId}`, headers: bearer(second.token) })
  t.equal(last.statusCode, 409)
})

t.test('concurrent demotions leave one owner', { skip: !onPostgres && 'PGlite has one session: requests cannot overlap in the database' }, async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const me = await ctx.app.db.selectFrom('users').select('id').where('sub', '=', owner.sub).executeTakeFirstOrThrow()
  const others = await Promise.all([joinAs(ctx, owner, 'owner'), joinAs(ctx, owner, 'owner')])
  const ids = [me.id, ...others.map((o) => o.userId)]
  const results = await Promise.all(ids.map((id) => ctx.app.inject({ method: 'PATCH', url: `/v2/orgs/${owner.slug}/members/${id}`, headers: bearer(owner.token), payload: { roleSlug: 'member' } })))
  t.same(results.map((r) => r.statusCode).sort(), [200, 200, 409])
  const owners = await ctx.app.db.selectFrom('org_memberships').select('user_id').where('org_id', '=', owner.orgId).where('role_slug', '=', 'owner').execute()
  t.equal(owners.length, 1)
})

t.test('roles: custom roles with wildcards, built-ins immutable, no granting beyond oneself', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const base = `/v2/orgs/${owner.slug}/roles`
  const list = await ctx.app.inject({ method: 'GET', url: base, headers: bearer(owner.token) })
  t.same(list.json().results.map((r: { slug: string }) => r.slug).sort(), ['admin', 'member', 'owner'])
  t.equal(list.json().defaultRole, 'member')
  const created = await ctx.app.inject({ method: 'POST', url: base, headers: bearer(owner.token), payload: { name: 'Readers', slug: 'readers', permissions: ['orgs:members:*', 'orgs:read'] } })
  t.equal(created.statusCode, 201)
  t.match(created.json(), { slug: 'readers', isSystem: false, permissions: ['orgs:members:*', 'orgs:read'] })
  t.equal((await ctx.app.inject({ method: 'POST', url: base, headers: bearer(owner.token), payload: { name: 'x', slug: 'readers' } })).statusCode, 409)
  t.equal((await ctx.app.inject({ method: 'POST', url: base, headers: bearer(owner.token), payload: { name: 'x', slug: 'bad', permissions: ['not a permission'] } })).statusCode, 400)
  const reader = await joinAs(ctx, owner, 'readers')
  t.equal((await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(reader.token) })).statusCode, 200, 'orgs:members:* grants orgs:members:read')
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `${base}/owner`, headers: bearer(owner.token) })).statusCode, 409)
  t.equal((await ctx.app.inject({ method: 'PATCH', url: `${base}/admin`, headers: bearer(owner.token), payload: { name: 'Boss' } })).statusCode, 409, 'built-in roles are immutable')
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `${base}/readers`, headers: bearer(owner.token) })).statusCode, 409, 'in use')
  const admin = await joinAs(ctx, owner, 'admin')
  const escalate = await ctx.app.inject({ method: 'POST', url: base, headers: bearer(admin.token), payload: { name: 'God', slug: 'god', permissions: ['*'] } })
  t.equal(escalate.statusCode, 403)
  t.match(escalate.json(), { error: 'ForbiddenError', message: /The new permission set includes \*, which the caller does not hold/ })
  t.match((await ctx.app.inject({ method: 'PATCH', url: `${base}/readers`, headers: bearer(owner.token), payload: { name: 'Readers 2' } })).json(), { name: 'Readers 2' })
  await ctx.app.inject({ method: 'DELETE', url: `/v2/orgs/${owner.slug}/members/${reader.userId}`, headers: bearer(owner.token) })
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `${base}/readers`, headers: bearer(owner.token) })).statusCode, 200)
  t.equal((await ctx.app.inject({ method: 'GET', url: `${base}/readers`, headers: bearer(owner.token) })).statusCode, 404)
})

t.test('groups and group membership', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const m = await joinAs(ctx, owner, 'member')
  const base = `/v2/orgs/${owner.slug}/groups`
  t.equal((await ctx.app.inject({ method: 'POST', url: base, headers: bearer(owner.token), payload: { name: 'Design', slug: 'design' } })).statusCode, 201)
  t.equal((await ctx.app.inject({ method: 'POST', url: base, headers: bearer(owner.token), payload: { name: 'Design', slug: 'design' } })).statusCode, 409)
  const added = await ctx.app.inject({ method: 'POST', url: `${base}/design/members`, headers: bearer(owner.token), payload: { userIds: [m.userId] } })
  t.equal(added.statusCode, 201)
  t.match(added.json(), [{ groupSlug: 'design', userId: m.userId }])
  const stranger = randomUUID()
  const bad = await ctx.app.inject({ method: 'POST', url: `${base}/design/members`, headers: bearer(owner.token), payload: { userIds: [stranger] } })
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { message: /body\/userIds\/0 is not a member/ })
  t.match((await ctx.app.inject({ method: 'GET', url: `${base}/design`, headers: bearer(owner.token) })).json(), { slug: 'design', memberCount: 1 })
  t.match((await ctx.app.inject({ method: 'GET', url: `${base}/design/members`, headers: bearer(owner.token) })).json(), { total: 1, results: [{ userId: m.userId }] })
  t.match((await ctx.app.inject({ method: 'PATCH', url: `${base}/design`, headers: bearer(owner.token), payload: { name: 'UX' } })).json(), { name: 'UX' })
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `${base}/design/members`, headers: bearer(owner.token), payload: { userIds: [m.userId] } })).statusCode, 200)
  t.equal((await ctx.app.inject({ method: 'GET', url: `${base}/design`, headers: bearer(owner.token) })).json().memberCount, 0)
  t.equal((await ctx.app.inject({ method: 'POST', url: base, headers: bearer(m.token), payload: { name: 'x', slug: 'x' } })).statusCode, 403)
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `${base}/design`, headers: bearer(owner.token) })).statusCode, 200)
  t.equal((await ctx.app.inject({ method: 'GET', url: `${base}/design`, headers: bearer(owner.token) })).statusCode, 404)
})

t.test('API keys: create, use, list, revoke, rotate, expire, limits of what they may grant', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const base = `/v2/orgs/${owner.slug}/api-keys`
  const created = await ctx.app.inject({ method: 'POST', url: base, headers: bearer(owner.token), payload: { slug: 'reader', name: 'Reader', permissions: ['orgs:members:read', 'orgs:read'] } })
  t.equal(created.statusCode, 201)
  const key = created.json()
  t.match(key, { slug: 'reader', apiKey: new RegExp(`^iak_${owner.slug}_[0-9a-f]{16}_[0-9a-f]{64}$`), disabled: false })
  const use = (raw: string, url = `/v2/orgs/${owner.slug}/members`) => ctx.app.inject({ method: 'GET', url, headers: { 'x-prismeai-api-key': raw } })
  t.equal((await use(key.apiKey)).statusCode, 200)
  t.equal((await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: { 'x-api-key': key.apiKey }, payload: { users: [{ email: 'a@example.com' }] } })).statusCode, 403, 'a read key cannot add')
  const listed = await ctx.app.inject({ method: 'GET', url: base, headers: bearer(owner.token) })
  t.equal(listed.json().total, 1)
  t.notOk('apiKey' in listed.json().results[0])
  t.notMatch(listed.body, /secret|hash/i)
  t.ok((await ctx.app.inject({ method: 'GET', url: `${base}/${key.id}`, headers: bearer(owner.token) })).json().lastUsedAt)
  t.equal((await ctx.app.inject({ method: 'POST', url: base, headers: bearer(owner.token), payload: { slug: 'reader', name: 'x' } })).statusCode, 409)
  t.equal((await ctx.app.inject({ method: 'POST', url: base, headers: bearer(owner.token), payload: { slug: 'past', name: 'x', expiresAt: '2020-01-01T00:00:00Z' } })).statusCode, 400)
  t.equal((await ctx.app.inject({ method: 'GET', url: base, headers: { 'x-api-key': key.apiKey } })).statusCode, 403, 'a key without orgs:apikeys:manage')

  const rotated = await ctx.app.inject({ method: 'POST', url: `${base}/${key.id}/rotate`, headers: bearer(owner.token), payload: {} })
  t.equal(rotated.statusCode, 200)
  t.not(rotated.json().apiKey, key.apiKey)
  t.equal((await use(key.apiKey)).statusCode, 401, 'the old key stops working')
  t.equal((await use(rotated.json().apiKey)).statusCode, 200)
  t.equal((await ctx.app.inject({ method: 'PATCH', url: `${base}/${key.id}`, headers: bearer(owner.token), payload: { disabled: true } })).json().disabled, true)
  t.equal((await use(rotated.json().apiKey)).statusCode, 401, 'revoked')
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `${base}/${key.id}`, headers: bearer(owner.token) })).statusCode, 200)
  t.equal((await ctx.app.inject({ method: 'GET', url: `${base}/${key.id}`, headers: bearer(owner.token) })).statusCode, 404)

  const admin = await joinAs(ctx, owner, 'admin')
  const tooMuch = await ctx.app.inject({ method: 'POST', url: base, headers: bearer(admin.token), payload: { slug: 'all', name: 'x', permissions: ['orgs:delete'] } })
  t.equal(tooMuch.statusCode, 403)
  const actions = (await ctx.app.db.selectFrom('audit_events').select('action').where('org_id', '=', owner.orgId).orderBy('created_at').execute()).map((e) => e.action)
  t.same(actions.filter((a) => a.startsWith('apikey')), ['apikey.created', 'apikey.rotated', 'apikey.revoked', 'apikey.deleted'])
})
