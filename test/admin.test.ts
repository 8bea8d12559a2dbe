import { createHash, randomUUID } from 'node:crypto'
import t from 'tap'
import { insertApiKey } from '../src/db/api-keys.ts'
import { bearer, buildTestApp, databaseName, ownerWithOrg, randomSlug, type TestApp } from './helper.ts'

t.comment(`database: ${databaseName}`)

const ALL = ['user:read', 'org:read', 'client:read', 'role:read', 'audit:read', 'admin:write']

function admin (ctx: TestApp, permissions = ALL): Record<string, string> {
  return bearer(ctx.token({ permissions }))
}

async function apiKeyOf (ctx: TestApp, orgId: string, orgSlug: string): Promise<string> {
  const { raw } = await insertApiKey(ctx.app.db, { orgId, orgSlug, slug: randomSlug('key'), name: 'k', permissions: ['*'] })
  return raw
}

t.test('applications: create, list page by page, conflicts, audit', async (t) => {
  const ctx = await buildTestApp(t)
  const headers = { ...admin(ctx), 'x-request-id': `req-${randomUUID()}` }
  const slugs = [randomSlug('app'), randomSlug('app'), randomSlug('app')]
  const created = []
  for (const slug of slugs) {
    const res = await ctx.app.inject({ method: 'POST', url: '/api/admin/applications', headers, payload: { slug, name: `App ${slug}`, description: 'd' } })
    t.equal(res.statusCode, 201)
    created.push(res.json())
  }
  t.match(created[0], { id: String, slug: slugs[0], name: `App ${slugs[0]}`, description: 'd', createdBy: String, createdAt: /Z$/, updatedAt: /Z$/ })

  const dup = await ctx.app.inject({ method: 'POST', url: '/api/admin/applications', headers, payload: { slug: slugs[0], name: 'x' } })
  t.equal(dup.statusCode, 409)
  t.match(dup.json(), { error: 'ConflictError', message: `Application slug ${slugs[0]} is taken` })

  const seen: string[] = []
  let cursor: string | null = null
  do {
    const url: string = `/api/admin/applications?limit=2${cursor ? `&cursor=${cursor}` : ''}`
    const res = await ctx.app.inject({ method: 'GET', url, headers })
    t.equal(res.statusCode, 200)
    const body = res.json()
    t.ok(body.data.length <= 2)
    seen.push(...body.data.map((a: { slug: string }) => a.slug))
    t.equal(body.pagination.hasMore, body.pagination.nextCursor !== null)
    cursor = body.pagination.nextCursor
  } while (cursor !== null)
  t.same(seen.filter((s) => slugs.includes(s)), [...slugs].reverse(), 'newest first, each once')

  const badCursor = await ctx.app.inject({ method: 'GET', url: '/api/admin/applications?cursor=nope', headers })
  t.equal(badCursor.statusCode, 400)
  t.match(badCursor.json(), { error: 'ValidationError', message: 'querystring/cursor is malformed' })

  const events = await ctx.app.db.selectFrom('audit_events').selectAll()
    .where('action', '=', 'application.created').where('target_id', '=', created[0].id).execute()
  t.equal(events.length, 1)
  t.match(events[0], { actor_kind: 'user', actor_id: created[0].createdBy, request_id: headers['x-request-id'], target_type: 'application', org_id: null })
})

t.test('application bodies: unknown properties, bad slug, missing name', async (t) => {
  const ctx = await buildTestApp(t)
  const post = async (payload: object) => await ctx.app.inject({ method: 'POST', url: '/api/admin/applications', headers: admin(ctx), payload })
  const extra = await post({ slug: randomSlug(), name: 'x', secret: 1 })
  t.equal(extra.statusCode, 400)
  t.match(extra.json(), { error: 'ValidationError', message: 'body/secret is not an allowed property' })
  const slug = await post({ slug: 'Bad Slug', name: 'x' })
  t.equal(slug.statusCode, 400)
  t.match(slug.json(), { error: 'ValidationError', details: [{ field: 'body/slug' }] })
  const name = await post({ slug: randomSlug() })
  t.equal(name.statusCode, 400)
  t.match(name.json(), { error: 'ValidationError', message: "body/name must have required property 'name'" })
})

t.test('application roles: create, list, 404 for an unknown application, 400 for a malformed id', async (t) => {
  const ctx = await buildTestApp(t)
  const headers = admin(ctx)
  const app = (await ctx.app.inject({ method: 'POST', url: '/api/admin/applications', headers, payload: { slug: randomSlug('app'), name: 'A' } })).json()
  const role = await ctx.app.inject({
    method: 'POST',
    url: `/api/admin/applications/${app.id}/roles`,
    headers,
    payload: { slug: 'billing-admin', name: 'Billing admin', permissions: ['billing:*', 'invoices:read'] }
  })
  t.equal(role.statusCode, 201)
  t.match(role.json(), { applicationId: app.id, slug: 'billing-admin', permissions: ['billing:*', 'invoices:read'], description: null })
  const dup = await ctx.app.inject({ method: 'POST', url: `/api/admin/applications/${app.id}/roles`, headers, payload: { slug: 'billing-admin', name: 'x' } })
  t.equal(dup.statusCode, 409)
  t.equal(dup.json().error, 'ConflictError')

  const list = await ctx.app.inject({ method: 'GET', url: `/api/admin/applications/${app.id}/roles`, headers })
  t.equal(list.statusCode, 200)
  t.same(list.json().data.map((r: { slug: string }) => r.slug), ['billing-admin'])
  t.same(list.json().pagination, { nextCursor: null, hasMore: false })

  const unknown = randomUUID()
  for (const method of ['GET', 'POST'] as const) {
    const res = await ctx.app.inject({ method, url: `/api/admin/applications/${unknown}/roles`, headers, ...(method === 'POST' ? { payload: { slug: 'x', name: 'x' } } : {}) })
    t.equal(res.statusCode, 404, method)
    t.same(res.json(), { error: 'NotFoundError', message: `Application ${unknown} not found`, requestId: res.headers['x-request-id'] })
  }
  const malformed = await ctx.app.inject({ method: 'GET', url: '/api/admin/applications/not-a-uuid/roles', headers })
  t.equal(malformed.statusCode, 400)
  t.match(malformed.json(), { error: 'ValidationError', message: /^params\/applicationId must match format "uuid"/ })

  const badPermission = await ctx.app.inject({ method: 'POST', url: `/api/admin/applications/${app.id}/roles`, headers, payload: { slug: 'y', name: 'y', permissions: ['has space'] } })
  t.equal(badPermission.statusCode, 400)
  t.match(badPermission.json(), { error: 'ValidationError', details: [{ field: 'body/permissions/0' }] })

  const events = await ctx.app.db.selectFrom('audit_events').selectAll().where('action', '=', 'application.role.created').where('target_id', '=', role.json().id).execute()
  t.equal(events.length, 1)
})

t.test('clients: secret shown once and stored hashed, redirect URIs absolute, org must exist', async (t) => {
  const ctx = await buildTestApp(t)
  const headers = admin(ctx)
  const owner = await ownerWithOrg(ctx)
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/api/admin/clients',
    headers,
    payload: { organizationId: owner.orgId, name: 'Web', redirectUris: ['https://app.example.com/cb', 'com.example.app:/oauth'], scopes: ['openid', 'profile'] }
  })
  t.equal(res.statusCode, 201)
  const client = res.json()
  t.match(client, {
    organizationId: owner.orgId,
    applicationId: null,
    name: 'Web',
    clientId: /^oc_[0-9a-f]{32}$/,
    clientSecret: /^ocs_[0-9a-f]{64}$/,
    redirectUris: ['https://app.example.com/cb', 'com.example.app:/oauth'],
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['openid', 'profile']
  })
  const stored = await ctx.app.db.selectFrom('oauth_clients').select('secret_hash').where('id', '=', client.id).executeTakeFirstOrThrow()
  t.equal(stored.secret_hash, createHash('sha256').update(client.clientSecret).digest('hex'))

  const list = await ctx.app.inject({ method: 'GET', url: `/api/admin/clients?organizationId=${owner.orgId}`, headers })
  t.equal(list.statusCode, 200)
  t.equal(list.json().data.length, 1)
  t.notOk('clientSecret' in list.json().data[0])
  t.notMatch(list.body, client.clientSecret.slice(4))
  t.notMatch(list.body, stored.secret_hash)

  const event = await ctx.app.db.selectFrom('audit_events').selectAll().where('action', '=', 'client.created').where('target_id', '=', client.id).executeTakeFirstOrThrow()
  t.match(event, { org_id: owner.orgId, target_type: 'oauth_client', actor_kind: 'user' })
  t.notMatch(JSON.stringify(event), client.clientSecret.slice(4))

  const badUris: Array<[string, string]> = [
    ['/relative/path', 'must be an absolute URL'],
    ['example.com/cb', 'must be an absolute URL'],
    ['https://app.example.com/cb#frag', 'must not contain a fragment'],
    ['javascript:alert(1)', 'must use https, http for a loopback address, or a reverse-DNS private-use scheme (com.example.app:/path)']
  ]
  for (const [uri, message] of badUris) {
    const bad = await ctx.app.inject({ method: 'POST', url: '/api/admin/clients', headers, payload: { organizationId: owner.orgId, name: 'x', redirectUris: ['https://ok.example.com/', uri] } })
    t.equal(bad.statusCode, 400, uri)
    t.same(bad.json(), {
      error: 'ValidationError', message: `body/redirectUris/1 ${message}`, details: [{ field: 'body/redirectUris/1', message }], requestId: bad.headers['x-request-id']
    }, uri)
  }

  const unknownOrg = randomUUID()
  const missing = await ctx.app.inject({ method: 'POST', url: '/api/admin/clients', headers, payload: { organizationId: unknownOrg, name: 'x' } })
  t.equal(missing.statusCode, 404)
  t.match(missing.json(), { error: 'NotFoundError', message: `Organization ${unknownOrg} not found` })
  const unknownApp = await ctx.app.inject({ method: 'POST', url: '/api/admin/clients', headers, payload: { organizationId: owner.orgId, applicationId: unknownOrg, name: 'x' } })
  t.equal(unknownApp.statusCode, 404)
  t.match(unknownApp.json(), { error: 'NotFoundError', message: `Application ${unknownOrg} not found` })
  const noOrg = await ctx.app.inject({ method: 'GET', url: '/api/admin/clients', headers })
  t.equal(noOrg.statusCode, 400)
  t.match(noOrg.json(), { error: 'ValidationError', message: "querystring/organizationId must have required property 'organizationId'" })
  const grant = await ctx.app.inject({ method: 'POST', url: '/api/admin/clients', headers, payload: { organizationId: owner.orgId, name: 'x', grantTypes: ['password'] } })
  t.equal(grant.statusCode, 400)
  t.match(grant.json(), { error: 'ValidationError', details: [{ field: 'body/grantTypes/0' }] })
})

t.test('admin routes: platform permissions only, API keys refused', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const key = await apiKeyOf(ctx, owner.orgId, owner.slug)
  const app = (await ctx.app.inject({ method: 'POST', url: '/api/admin/applications', headers: admin(ctx), payload: { slug: randomSlug('app'), name: 'A' } })).json()
  const routes: Array<{ method: 'GET' | 'POST', url: string, payload?: object, needs: string }> = [
    { method: 'POST', url: '/api/admin/applications', payload: { slug: randomSlug('app'), name: 'x' }, needs: 'admin:write' },
    { method: 'GET', url: '/api/admin/applications', needs: 'role:read' },
    { method: 'POST', url: `/api/admin/applications/${app.id}/roles`, payload: { slug: randomSlug('r'), name: 'x' }, needs: 'admin:write' },
    { method: 'GET', url: `/api/admin/applications/${app.id}/roles`, needs: 'role:read' },
    { method: 'POST', url: '/api/admin/clients', payload: { organizationId: owner.orgId, name: 'x' }, needs: 'admin:write' },
    { method: 'GET', url: `/api/admin/clients?organizationId=${owner.orgId}`, needs: 'client:read' }
  ]
  for (const r of routes) {
    const without = await ctx.app.inject({ method: r.method, url: r.url, headers: admin(ctx, ALL.filter((p) => p !== r.needs)), ...(r.payload ? { payload: r.payload } : {}) })
    t.equal(without.statusCode, 403, `${r.method} ${r.url} without ${r.needs}`)
    t.same(without.json(), { error: 'ForbiddenError', message: `Missing permission ${r.needs}`, requestId: without.headers['x-request-id'] })
    // The org owner has every org permission, but no platform permission.
    const owned = await ctx.app.inject({ method: r.method, url: r.url, headers: bearer(owner.token), ...(r.payload ? { payload: r.payload } : {}) })
    t.equal(owned.statusCode, 403, `${r.method} ${r.url} as org owner`)
    for (const header of ['x-api-key', 'x-prismeai-api-key']) {
      const keyed = await ctx.app.inject({ method: r.method, url: r.url, headers: { [header]: key }, ...(r.payload ? { payload: r.payload } : {}) })
      t.equal(keyed.statusCode, 401, `${r.method} ${r.url} with ${header}`)
      t.match(keyed.json(), { error: 'AuthenticationError', message: 'API keys are not accepted on this route; use a Bearer token' })
    }
    const anonymous = await ctx.app.inject({ method: r.method, url: r.url, ...(r.payload ? { payload: r.payload } : {}) })
    t.equal(anonymous.statusCode, 401)
    const granted = await ctx.app.inject({ method: r.method, url: r.url, headers: admin(ctx, [r.needs]), ...(r.payload ? { payload: r.payload } : {}) })
    t.equal(granted.statusCode, r.method === 'POST' ? 201 : 200, `${r.method} ${r.url} with only ${r.needs}`)
  }
  const wildcard = await ctx.app.inject({ method: 'GET', url: '/api/admin/applications', headers: admin(ctx, ['*']) })
  t.equal(wildcard.statusCode, 200)
})
