import t from 'tap'
import { bearer, buildTestApp, ownerWithOrg } from './helper.ts'

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
