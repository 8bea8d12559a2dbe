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

t.test('failed authentication is limited per credential and per address; a valid credential never is (issue 11)', async (t) => {
  const ctx = await buildTestApp(t, { AUTH_FAILURE_MAX: '5', AUTH_FAILURE_ADDRESS_MAX: '8' })
  const owner = await ownerWithOrg(ctx)
  for (let i = 0; i < 5; i++) {
    t.equal((await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer('a.b.c') })).statusCode, 401)
  }
  const again = await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer('a.b.c') })
  t.equal(again.statusCode, 429, 'the same bad credential from the same address is limited')
  t.match(again.json(), { error: 'RateLimitError', retryAfterMs: Number })
  t.ok(Number(again.headers['retry-after']) >= 1)
  const pub = await ctx.app.inject({ method: 'GET', url: `/api/public/organizations/${owner.orgId}/members`, headers: bearer('a.b.c') })
  t.equal(pub.json().error.title, 'RateLimitExceeded')
  const badKey = (n: number) => ({ 'x-api-key': `iak_x_${String(n).padStart(16, '0')}_${'0'.repeat(64)}` })
  // Seven failures so far from this address: a new bad credential each time reaches the address ceiling.
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: badKey(1) })).statusCode, 401, 'another credential has its own count')
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: badKey(2) })).statusCode, 429, 'past the per-address ceiling')
  const valid = await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(owner.token) })
  t.equal(valid.statusCode, 200, 'a valid credential from the limited address is not refused')
  const other = await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer('a.b.c'), remoteAddress: '10.1.2.3' })
  t.equal(other.statusCode, 401, 'another address is not affected')
})
