import t from 'tap'
import { bearer, buildTestApp, onPostgres, ownerWithOrg } from './helper.ts'

const redisUrl = process.env.TEST_REDIS_URL
const skip = !onPostgres
  ? 'instances share data only through a PostgreSQL server; the embedded database belongs to one process'
  : redisUrl === undefined ? 'set TEST_REDIS_URL to run instances against a shared Redis' : false

t.test('two instances on different ports share data and the rate limit', { skip }, async (t) => {
  const env = { REDIS_URL: redisUrl as string, RATE_LIMIT_MAX: '5', RATE_LIMIT_WINDOW_MS: '60000' }
  const one = await buildTestApp(t, env)
  const two = await buildTestApp(t, env)
  const [urlOne, urlTwo] = await Promise.all([one.app.listen({ port: 0, host: '127.0.0.1' }), two.app.listen({ port: 0, host: '127.0.0.1' })])
  t.not(urlOne, urlTwo)
  const owner = await ownerWithOrg(one)
  const get = (base: string, path: string) => fetch(`${base}${path}`, { headers: bearer(owner.token) })

  const written = await fetch(`${urlOne}/v2/orgs/${owner.slug}/members`, {
    method: 'POST',
    headers: { ...bearer(owner.token), 'content-type': 'application/json' },
    body: JSON.stringify({ users: [{ email: 'shared@example.com' }] })
  })
  t.equal(written.status, 201)
  const read = await get(urlTwo, `/v2/orgs/${owner.slug}/members?status=invited`)
  t.equal(read.status, 200)
  t.match(await read.json(), { total: 1, results: [{ inviteEmail: 'shared@example.com' }] }, 'written through one, read through the other')

  // Five requests a minute per credential, counted in Redis across both instances:
  // org creation and the add on instance one, the read on two, then one more on each.
  t.equal((await get(urlOne, `/v2/orgs/${owner.slug}`)).status, 200)
  t.equal((await get(urlTwo, `/v2/orgs/${owner.slug}`)).status, 200)
  const limited = await get(urlOne, `/v2/orgs/${owner.slug}`)
  t.equal(limited.status, 429, 'the sixth request is limited, whichever instance counted the others')
  t.match(await limited.json(), { error: 'RateLimitError', retryAfterMs: Number })
  t.equal((await get(urlTwo, `/v2/orgs/${owner.slug}`)).status, 429)
})

t.test('failed authentications from one address are counted across instances', { skip }, async (t) => {
  const env = { REDIS_URL: redisUrl as string, AUTH_FAILURE_MAX: '3' }
  const one = await buildTestApp(t, env)
  const two = await buildTestApp(t, env)
  // Both instances see this test as 127.0.0.1: start its windows from nothing.
  const clear = async () => { for (const key of await one.app.redis!.keys('orgroster-af:*127.0.0.1*')) await one.app.redis!.del(key) }
  await clear()
  const owner = await ownerWithOrg(one)
  const bad = { authorization: 'Bearer not.a.jwt' }
  for (const app of [one.app, two.app, one.app]) t.equal((await app.inject({ method: 'GET', url: '/v2/orgs', headers: bad })).statusCode, 401)
  const refused = await two.app.inject({ method: 'GET', url: '/v2/orgs', headers: bad })
  t.equal(refused.statusCode, 429, 'the fourth failure is refused on the other instance')
  t.match(refused.json(), { error: 'RateLimitError', retryAfterMs: Number })
  t.ok(Number(refused.headers['retry-after']) >= 1)
  t.equal((await two.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(owner.token) })).statusCode, 200, 'a valid token from that address is never refused')
  await clear()
  t.equal((await two.app.inject({ method: 'GET', url: '/v2/orgs', headers: bad })).statusCode, 401, 'counted from nothing once the window is gone')
})

t.test('with Redis unreachable, requests are let through and counted in no one', async (t) => {
  // A port nothing listens on: the instance starts, warns, and answers without limits.
  const ctx = await buildTestApp(t, { REDIS_URL: 'redis://127.0.0.1:9', RATE_LIMIT_MAX: '1', AUTH_FAILURE_MAX: '1' })
  const owner = await ownerWithOrg(ctx)
  for (let i = 0; i < 3; i++) t.equal((await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: { authorization: 'Bearer not.a.jwt' } })).statusCode, 401)
  for (let i = 0; i < 3; i++) t.equal((await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(owner.token) })).statusCode, 200)
})
