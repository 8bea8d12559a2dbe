// The issue-11 reproductions, each of which succeeded on the code before it: an admin making
// itself owner, a key creating an owner, a CSV owner row, a narrow key rotating a broad one,
// an admin reviving a revoked orgs:* key, a role manager emptying an owner-made role, a
// suspended org that kept working. Every refusal is shown to have written nothing.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import type { InjectOptions } from 'fastify'
import { routes } from '../generated/routes.ts'
import { bearer, buildTestApp, databaseName, ownerWithOrg, randomSlug } from './helper.ts'
import { makeKey, makeMember, makeRole, readBack, signedIn } from './privilege-world.ts'

t.comment(`database: ${databaseName}`)

const ctx = await buildTestApp(t)
const inject = async (options: InjectOptions) => await ctx.app.inject(options)
const refused = (message: string) => ({ error: 'ForbiddenError', message })

/** An org with its owner, an admin and an owner-made orgs:* API key. */
async function orgWithAdmin () {
  const owner = await ownerWithOrg(ctx)
  const admin = await signedIn(ctx)
  await makeMember(ctx, owner.orgId, 'admin', 'active', admin.userId)
  const ownerRow = await ctx.app.db.selectFrom('users').select('id').where('sub', '=', owner.sub).executeTakeFirstOrThrow()
  const key = await makeKey(ctx, { orgId: owner.orgId, slug: owner.slug }, ['orgs:*'])
  return { owner, ownerId: ownerRow.id, admin, key, base: `/v2/orgs/${owner.slug}` }
}

t.test('an admin cannot make itself owner, nor demote the owner', async (t) => {
  const w = await orgWithAdmin()
  const before = await readBack(ctx, w.owner.orgId)
  const self = await inject({ method: 'PATCH', url: `${w.base}/members/${w.admin.userId}`, headers: w.admin.headers, payload: { roleSlug: 'owner' } })
  t.equal(self.statusCode, 403)
  t.match(self.json(), refused('Role owner includes orgs:*, which the caller does not hold'))
  const demote = await inject({ method: 'PATCH', url: `${w.base}/members/${w.ownerId}`, headers: w.admin.headers, payload: { roleSlug: 'member' } })
  t.equal(demote.statusCode, 403)
  t.match(demote.json(), refused('Role owner includes orgs:*, which the caller does not hold'))
  for (const action of [{ method: 'DELETE' as const }, { method: 'PATCH' as const, payload: { status: 'suspended' } }]) {
    const res = await inject({ ...action, url: `${w.base}/members/${w.ownerId}`, headers: w.admin.headers })
    t.equal(res.statusCode, 403, `${action.method}: an admin cannot act on an owner`)
  }
  t.same(await readBack(ctx, w.owner.orgId), before, 'nothing changed')
  const owner = await inject({ method: 'PATCH', url: `${w.base}/members/${w.admin.userId}`, headers: bearer(w.owner.token), payload: { roleSlug: 'owner' } })
  t.equal(owner.statusCode, 200, 'the owner may promote')
})

t.test('a key holding orgs:members:manage cannot add an owner, by JSON or by CSV', async (t) => {
  const w = await orgWithAdmin()
  const key = await makeKey(ctx, { orgId: w.owner.orgId, slug: w.owner.slug }, ['orgs:members:manage'])
  const email = `${randomSlug('boss')}@example.com`
  const before = await readBack(ctx, w.owner.orgId, [email])
  const add = await inject({ method: 'POST', url: `${w.base}/members`, headers: { 'x-api-key': key.raw }, payload: { users: [{ email, roleSlug: 'owner' }] } })
  t.equal(add.statusCode, 403)
  t.match(add.json(), refused('Role owner includes orgs:*, which the caller does not hold'))
  t.same(await readBack(ctx, w.owner.orgId, [email]), before, 'no user, no membership, no audit event')
  const other = `${randomSlug('ok')}@example.com`
  const csv = `email,roleSlug\r\n${email},owner\r\n${other},member\r\n`
  const imported = await inject({ method: 'POST', url: `${w.base}/members/import`, headers: { 'x-api-key': key.raw, 'content-type': 'text/csv' }, payload: csv })
  t.equal(imported.statusCode, 200)
  t.match(imported.json(), { created: 0, failedCount: 2 }, 'orgs:read of the member role is not held by this key either')
  const admins = await inject({ method: 'POST', url: `${w.base}/members/import`, headers: { ...w.admin.headers, 'content-type': 'text/csv' }, payload: csv })
  t.same(admins.json(), { created: 1, skipped: 0, failed: [{ line: 2, message: 'Role owner includes orgs:*, which the caller does not hold' }], failedCount: 1, dryRun: false },
    'the owner line fails with the add\'s message; the other line goes on')
  const rows = await ctx.app.db.selectFrom('org_memberships as m').innerJoin('users as u', 'u.id', 'm.user_id').select(['u.email', 'm.role_slug'])
    .where('m.org_id', '=', w.owner.orgId).where('u.email', 'in', [email, other]).execute()
  t.same(rows, [{ email: other, role_slug: 'member' }])
})

t.test('a narrow key cannot rotate a broad one; an admin cannot revive or rotate a revoked orgs:* key', async (t) => {
  const w = await orgWithAdmin()
  const narrow = await makeKey(ctx, { orgId: w.owner.orgId, slug: w.owner.slug }, ['orgs:apikeys:manage'])
  const before = await readBack(ctx, w.owner.orgId)
  const rotate = await inject({ method: 'POST', url: `${w.base}/api-keys/${w.key.id}/rotate`, headers: { 'x-api-key': narrow.raw }, payload: {} })
  t.equal(rotate.statusCode, 403)
  t.match(rotate.json(), refused(`API key ${w.key.slug} includes orgs:*, which the caller does not hold`))
  t.notOk('apiKey' in rotate.json(), 'no secret')
  t.same(await readBack(ctx, w.owner.orgId), before)
  await inject({ method: 'PATCH', url: `${w.base}/api-keys/${w.key.id}`, headers: bearer(w.owner.token), payload: { disabled: true } })
  const revoked = await readBack(ctx, w.owner.orgId)
  const revive = await inject({ method: 'PATCH', url: `${w.base}/api-keys/${w.key.id}`, headers: w.admin.headers, payload: { disabled: false } })
  t.equal(revive.statusCode, 403)
  const rotated = await inject({ method: 'POST', url: `${w.base}/api-keys/${w.key.id}/rotate`, headers: w.admin.headers, payload: {} })
  t.equal(rotated.statusCode, 403)
  t.notOk('apiKey' in rotated.json())
  t.same(await readBack(ctx, w.owner.orgId), revoked, 'still revoked, same secret')
})

t.test('a role manager cannot empty an owner-made orgs:* role, nor delete it', async (t) => {
  const w = await orgWithAdmin()
  const slug = await makeRole(ctx, w.owner.orgId, ['orgs:*'])
  const before = await readBack(ctx, w.owner.orgId)
  for (const [method, payload] of [['PATCH', { permissions: [] }], ['DELETE', undefined]] as const) {
    const res = await inject({ method, url: `${w.base}/roles/${slug}`, headers: w.admin.headers, ...(payload ? { payload } : {}) })
    t.equal(res.statusCode, 403, method)
    t.match(res.json(), refused(`Role ${slug} includes orgs:*, which the caller does not hold`))
  }
  t.same(await readBack(ctx, w.owner.orgId), before)
  const builtIn = await inject({ method: 'PATCH', url: `${w.base}/roles/member`, headers: bearer(w.owner.token), payload: { permissions: [] } })
  t.equal(builtIn.statusCode, 409, 'built-in roles are immutable, even to the owner')
})

// A request that reaches each org-scoped operation's handler; operations not listed here are
// sent without parameters' own fixtures (an empty JSON body where one is taken).
const CALLS: Record<string, (f: { userId: string, keyId: string }) => Partial<InjectOptions>> = {
  updateOrganization: () => ({ payload: { name: 'Renamed' } }),
  addOrgMembers: () => ({ payload: { users: [{ email: `${randomSlug('s')}@example.com` }] } }),
  removeOrgMembers: (f) => ({ payload: { userIds: [f.userId] } }),
  updateOrgMember: () => ({ payload: { roleSlug: 'member' } }),
  createOrgRole: () => ({ payload: { slug: randomSlug('role'), name: 'R', permissions: [] } }),
  updateOrgRole: () => ({ payload: { name: 'R' } }),
  createOrgGroup: () => ({ payload: { slug: randomSlug('group'), name: 'G' } }),
  updateOrgGroup: () => ({ payload: { name: 'G' } }),
  addOrgGroupMembers: (f) => ({ payload: { userIds: [f.userId] } }),
  removeOrgGroupMembers: (f) => ({ payload: { userIds: [f.userId] } }),
  createOrgApiKey: () => ({ payload: { slug: randomSlug('key'), name: 'K', permissions: [] } }),
  updateOrgApiKey: () => ({ payload: { name: 'K' } }),
  importOrgMembers: () => ({ headers: { 'content-type': 'text/csv' }, payload: 'email\r\nx@example.com\r\n' }),
  createOrgWebhook: () => ({ payload: { url: 'https://hooks.invalid/suspended' } }),
  updateOrgWebhook: () => ({ payload: { description: 'x' } })
}
const ALLOWED_WHILE_SUSPENDED = new Set(['getOrganization'])

t.test('a suspended org refuses every org-scoped operation, to its owner and its keys, but can be read and un-suspended', async (t) => {
  const w = await orgWithAdmin()
  const memberId = await makeMember(ctx, w.owner.orgId, 'member')
  const fixtures = { userId: memberId, keyId: w.key.id }
  const suspend = await inject({ method: 'PATCH', url: w.base, headers: bearer(w.owner.token), payload: { status: 'suspended' } })
  t.equal(suspend.statusCode, 200)
  const before = await readBack(ctx, w.owner.orgId)
  const scoped = Object.entries(routes).filter(([, r]) => r.url.startsWith('/v2/orgs/:orgSlug'))
  t.ok(scoped.length >= 30, `${scoped.length} org-scoped operations`)
  for (const [id, route] of scoped) {
    const url = route.url.replace(':orgSlug', w.owner.slug).replace(':userId', memberId).replace(':keyId', w.key.id)
      .replace(':roleSlug', 'member').replace(':groupSlug', 'none').replace(':webhookId', randomUUID()).replace(':deliveryId', randomUUID())
    const extra: Partial<InjectOptions> = CALLS[id]?.(fixtures) ?? ((route.bodyTypes as readonly string[]).length > 0 ? { payload: {} } : {})
    for (const [who, headers] of [['owner', bearer(w.owner.token)], ['orgs:* key', { 'x-api-key': w.key.raw }]] as const) {
      const res = await inject({ method: route.method, url, ...extra, headers: { ...headers, ...extra.headers } })
      if (ALLOWED_WHILE_SUSPENDED.has(id)) {
        t.equal(res.statusCode, 200, `${id} (${who}) still works`)
      } else {
        t.same({ status: res.statusCode, body: res.json() }, { status: 403, body: { error: 'ForbiddenError', message: 'organization is suspended', requestId: res.headers['x-request-id'] } }, `${id} (${who})`)
      }
    }
  }
  const pub = await inject({ method: 'GET', url: `/api/public/organizations/${w.owner.orgId}/members`, headers: bearer(w.owner.token) })
  t.equal(pub.statusCode, 404, 'the public list (whose seed has no 403) does not serve a suspended org')
  t.same(await readBack(ctx, w.owner.orgId), before, 'nothing written while suspended')

  const byKey = await inject({ method: 'PATCH', url: w.base, headers: { 'x-api-key': w.key.raw }, payload: { status: 'active' } })
  t.equal(byKey.statusCode, 403, 'an API key cannot un-suspend')
  const byAdmin = await inject({ method: 'PATCH', url: w.base, headers: w.admin.headers, payload: { status: 'active' } })
  t.equal(byAdmin.statusCode, 403, 'an admin (no orgs:manage) cannot un-suspend')
  const platform = bearer(ctx.token({ permissions: ['admin:write'] }))
  const renameByPlatform = await inject({ method: 'PATCH', url: w.base, headers: platform, payload: { status: 'active', name: 'Mine' } })
  t.equal(renameByPlatform.statusCode, 404, 'a platform admin may send only status')
  t.same(await readBack(ctx, w.owner.orgId), before)
  const byPlatform = await inject({ method: 'PATCH', url: w.base, headers: platform, payload: { status: 'active' } })
  t.equal(byPlatform.statusCode, 200)
  t.equal(byPlatform.json().status, 'active', 'a platform admin:write un-suspends')
  t.equal((await inject({ method: 'GET', url: `${w.base}/members`, headers: { 'x-api-key': w.key.raw } })).statusCode, 200, 'the org works again')
  await inject({ method: 'PATCH', url: w.base, headers: bearer(w.owner.token), payload: { status: 'suspended' } })
  const byOwner = await inject({ method: 'PATCH', url: w.base, headers: bearer(w.owner.token), payload: { status: 'active' } })
  t.equal(byOwner.statusCode, 200, 'the owner un-suspends')
})

t.test('thirty bad tokens from one address do not lock out a valid token from it', async (t) => {
  const limited = await buildTestApp(t, { AUTH_FAILURE_MAX: '30' })
  const owner = await ownerWithOrg(limited)
  for (let i = 0; i < 30; i++) await limited.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(`x${i}.y.z`) })
  t.equal((await limited.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(owner.token) })).statusCode, 200)
})
