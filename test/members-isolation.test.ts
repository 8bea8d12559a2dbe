import { randomUUID } from 'node:crypto'
import t from 'tap'
import { bearer, buildTestApp, ownerWithOrg } from './helper.ts'
import { routes } from '../generated/routes.ts'
import { insertApiKey } from '../src/db/api-keys.ts'

// A valid body for each operation, so the denial is what is tested rather than validation.
const BODIES: Record<string, unknown> = {
  updateOrganization: { name: 'x' },
  addOrgMembers: { users: [{ email: 'x@example.com' }] },
  removeOrgMembers: { userIds: [randomUUID()] },
  updateOrgMember: { roleSlug: 'member' },
  createOrgRole: { name: 'x', slug: 'x' },
  updateOrgRole: { name: 'x' },
  createOrgGroup: { name: 'x', slug: 'x' },
  updateOrgGroup: { name: 'x' },
  addOrgGroupMembers: { userIds: [randomUUID()] },
  removeOrgGroupMembers: { userIds: [randomUUID()] },
  createOrgApiKey: { slug: 'x', name: 'x' },
  updateOrgApiKey: { name: 'x' },
  rotateOrgApiKey: {}
}

t.test('a member or key of org A gets nothing of org B, on every /v2/orgs/{orgSlug} operation', async (t) => {
  const ctx = await buildTestApp(t)
  const a = await ownerWithOrg(ctx)
  const b = await ownerWithOrg(ctx)
  const keyA = await insertApiKey(ctx.app.db, { orgId: a.orgId, orgSlug: a.slug, slug: 'all', name: 'all', permissions: ['*'] })
  const ops = Object.entries(routes).filter(([, def]) => def.url.includes(':orgSlug') && (def.bodyTypes as readonly string[]).every((type) => type === 'application/json'))
  t.ok(ops.length >= 25, `${ops.length} operations`)
  for (const [id, def] of ops) {
    const url = def.url.replace(':orgSlug', b.slug).replace(':userId', randomUUID()).replace(':keyId', randomUUID())
      .replace(':roleSlug', 'member').replace(':groupSlug', 'g')
    const body = BODIES[id]
    for (const [who, headers] of [['owner of A', bearer(a.token)], ['key of A', { 'x-api-key': keyA.raw }]] as const) {
      const res = await ctx.app.inject({ method: def.method, url, headers, ...(body !== undefined ? { payload: body as object } : {}) })
      const expected = id === 'createOrganization' || id === 'listOrganizations' ? null : 404
      if (expected === null) continue
      t.equal(res.statusCode, who === 'key of A' && (def.security as readonly string[]).length === 1 ? 401 : expected, `${id} as ${who}`)
      if (res.statusCode === 404) t.same(res.json().message, `Organization ${b.slug} not found`, `${id} as ${who}: same body as a missing org`)
    }
  }
  const untouched = await ctx.app.db.selectFrom('org_memberships').select('user_id').where('org_id', '=', b.orgId).execute()
  t.equal(untouched.length, 1, 'org B is untouched')
})

t.test('rate limits per credential, with each family\'s 429 body', async (t) => {
  const ctx = await buildTestApp(t, { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000' })
  const owner = await ownerWithOrg(ctx)
  const other = ctx.token()
  const url = `/v2/orgs/${owner.slug}/members`
  for (let i = 0; i < 2; i++) t.equal((await ctx.app.inject({ method: 'GET', url, headers: bearer(owner.token) })).statusCode, 200)
  const limited = await ctx.app.inject({ method: 'GET', url, headers: bearer(owner.token) })
  t.equal(limited.statusCode, 429)
  t.match(limited.json(), { error: 'RateLimitError', message: String, retryAfterMs: Number })
  t.ok(Number(limited.headers['retry-after']) >= 1)
  t.ok(limited.headers['ratelimit-limit'] !== undefined || limited.headers['x-ratelimit-limit'] !== undefined)
  const pub = await ctx.app.inject({ method: 'GET', url: `/api/public/organizations/${owner.orgId}/members`, headers: bearer(owner.token) })
  t.equal(pub.statusCode, 429)
  t.same(Object.keys(pub.json().error).sort(), ['detail', 'retryAfterMs', 'title'])
  t.equal(pub.json().error.title, 'RateLimitExceeded')
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(other) })).statusCode, 200, 'another credential is not limited')
})
