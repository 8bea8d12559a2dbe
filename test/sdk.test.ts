// orgroster/sdk against a real listening server, over HTTP, on both databases.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { createOrgroster, isOrgrosterError, OrgrosterError, unwrap } from '../src/sdk/index.ts'
import { insertApiKey } from '../src/db/api-keys.ts'
import { databaseName, randomSlug } from './helper.ts'
import { listenTestApp } from './listen.ts'

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
