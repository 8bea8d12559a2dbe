import t from 'tap'
import { bearer, buildTestApp, ownerWithOrg } from './helper.ts'

t.test('a NUL byte or a lone surrogate anywhere is a 400 naming the field, not a database error', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const headers = { ...bearer(owner.token), 'content-type': 'application/json' }
  const cases: Array<[string, string, string, RegExp]> = [
    ['PATCH', `/v2/orgs/${owner.slug}`, JSON.stringify({ name: 'a\u0000b' }), /^body\/name contains a NUL byte/],
    ['PATCH', `/v2/orgs/${owner.slug}`, '{"name":"a\\ud800b"}', /^body\/name contains .* unpaired surrogate/],
    ['PATCH', `/v2/orgs/${owner.slug}`, '{"description":"\\udc00"}', /^body\/description/],
    ['POST', `/v2/orgs/${owner.slug}/groups`, JSON.stringify({ name: 'x\u0000', slug: 'g' }), /^body\/name/],
    ['GET', `/v2/orgs/${owner.slug}/members?q=a%00b`, '', /^querystring\/q/],
    ['POST', `/v2/orgs/${owner.slug}/members`, JSON.stringify({ users: [{ email: 'a@example.com', groups: ['g'] }], skipExisting: true, 'x\u0000': 1 }), /^body\/x/]
  ]
  for (const [method, url, payload, message] of cases) {
    const res = await ctx.app.inject({ method: method as 'GET', url, headers, ...(payload ? { payload } : {}) })
    t.equal(res.statusCode, 400, `${method} ${url} ${payload}`)
    t.match(res.json(), { error: 'ValidationError', message }, `${method} ${url}`)
  }
  const org = await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}`, headers: bearer(owner.token) })
  t.equal(org.json().name, `Org ${owner.slug}`, 'nothing written')
})

t.test('repeated failed authentication from one address is limited before any verification', async (t) => {
  const ctx = await buildTestApp(t, { AUTH_FAILURE_MAX: '5' })
  const owner = await ownerWithOrg(ctx)
  for (let i = 0; i < 5; i++) {
    t.equal((await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer('a.b.c') })).statusCode, 401)
  }
  const blocked = await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: { 'x-api-key': 'iak_x_0000000000000000_' + '0'.repeat(64) } })
  t.equal(blocked.statusCode, 429)
  t.match(blocked.json(), { error: 'RateLimitError', retryAfterMs: Number })
  t.ok(Number(blocked.headers['retry-after']) >= 1)
  const pub = await ctx.app.inject({ method: 'GET', url: `/api/public/organizations/${owner.orgId}/members`, headers: bearer('a.b.c') })
  t.equal(pub.json().error.title, 'RateLimitExceeded')
  const other = await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(owner.token), remoteAddress: '10.1.2.3' })
  t.equal(other.statusCode, 200, 'another address is not affected')
})
