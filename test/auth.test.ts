import { generateKeyPairSync, randomUUID } from 'node:crypto'
import t from 'tap'
import { createSigner } from 'fast-jwt'
import { bearer, buildTestApp, JWT_SECRET, ownerWithOrg } from './helper.ts'
import { insertApiKey } from '../src/db/api-keys.ts'

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)

t.test('JWTs that are refused with the 401 body', async (t) => {
  const ctx = await buildTestApp(t)
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const sub = `u-${randomUUID()}`
  const hs = (claims: object, key = JWT_SECRET) => createSigner({ key, algorithm: 'HS256' })(claims)
  const cases: Record<string, Record<string, string>> = {
    'no credential': {},
    'not Bearer': { authorization: 'Basic abc' },
    'Bearer a b': { authorization: 'Bearer a b' },
    'Bearer with nothing': { authorization: 'Bearer ' },
    'malformed token': { authorization: 'Bearer not.a.jwt' },
    'wrong secret': bearer(hs({ sub, exp: now() + 60 }, 'another-secret-that-is-long-enough-0123456789')),
    'alg none': bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub, exp: now() + 60 })}.`),
    'RS256 token while HS256 is configured': bearer(createSigner({ key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: 'RS256' })({ sub, exp: now() + 60 })),
    'HS256 signed with a public key': bearer(hs({ sub, exp: now() + 60 }, pem)),
    expired: bearer(hs({ sub, exp: now() - 3600 })),
    'future nbf': bearer(hs({ sub, exp: now() + 3600, nbf: now() + 600 })),
    'missing exp': bearer(hs({ sub })),
    'missing sub': bearer(hs({ exp: now() + 60 })),
    'key in the query string': {}
  }
  for (const [name, headers] of Object.entries(cases)) {
    const url = name === 'key in the query string' ? '/v2/orgs?apiKey=iak_x_0000000000000000_' + '0'.repeat(64) : '/v2/orgs'
    const res = await ctx.app.inject({ method: 'GET', url, headers })
    t.equal(res.statusCode, 401, name)
    t.match(res.json(), { error: 'AuthenticationError', message: String, requestId: String }, name)
    t.notMatch(res.body, /stack|at .*\.ts/, name)
  }
  const ok = await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(hs({ sub, exp: now() + 60 })) })
  t.equal(ok.statusCode, 200)
})

t.test('clock tolerance is 5 seconds (fast-jwt takes milliseconds): a little skew passes, more does not', async (t) => {
  const ctx = await buildTestApp(t)
  const sub = `u-${randomUUID()}`
  const sign = (claims: object) => createSigner({ key: JWT_SECRET, algorithm: 'HS256' })({ sub, ...claims })
  const status = async (claims: object) => (await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(sign(claims)) })).statusCode
  t.equal(await status({ exp: now() - 2 }), 200, 'expired 2 s ago: within the tolerance')
  t.equal(await status({ exp: now() - 30 }), 401, 'expired 30 s ago')
  t.equal(await status({ exp: now() + 60, nbf: now() + 2 }), 200, 'valid from 2 s on: within the tolerance')
  t.equal(await status({ exp: now() + 60, nbf: now() + 30 }), 401, 'valid from 30 s on')
})

t.test('issuer and audience are required when configured', async (t) => {
  const ctx = await buildTestApp(t, { JWT_ISSUER: 'https://issuer.test', JWT_AUDIENCE: 'orgroster' })
  const sub = `u-${randomUUID()}`
  const sign = (claims: object) => createSigner({ key: JWT_SECRET, algorithm: 'HS256' })({ sub, exp: now() + 60, ...claims })
  const get = (token: string) => ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(token) })
  t.equal((await get(sign({ iss: 'https://issuer.test', aud: 'orgroster' }))).statusCode, 200)
  t.equal((await get(sign({ iss: 'https://evil.test', aud: 'orgroster' }))).statusCode, 401, 'wrong issuer')
  t.equal((await get(sign({ iss: 'https://issuer.test', aud: 'other' }))).statusCode, 401, 'wrong audience')
  t.equal((await get(sign({ aud: 'orgroster' }))).statusCode, 401, 'missing issuer')
  t.equal((await get(sign({ iss: 'https://issuer.test' }))).statusCode, 401, 'missing audience')
})

t.test('RS256 public key configured: RS256 accepted, HS256 signed with the public key refused', async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const ctx = await buildTestApp(t, { JWT_SECRET: '', JWT_PUBLIC_KEY: pem } as Record<string, string>)
  const sub = `u-${randomUUID()}`
  const rs = createSigner({ key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: 'RS256' })({ sub, exp: now() + 60 })
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(rs) })).statusCode, 200)
  const swapped = createSigner({ key: pem, algorithm: 'HS256' })({ sub, exp: now() + 60 })
  t.equal((await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(swapped) })).statusCode, 401)
})

t.test('just-in-time users: created on first request, profile refreshed later', async (t) => {
  const ctx = await buildTestApp(t)
  const sub = `u-${randomUUID()}`
  await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(ctx.token({ sub, email: `${sub}@Example.com`, given_name: 'A', family_name: 'B' })) })
  const first = await ctx.app.db.selectFrom('users').selectAll().where('sub', '=', sub).executeTakeFirstOrThrow()
  t.match(first, { email: `${sub}@example.com`, given_name: 'A', family_name: 'B', full_name: 'A B' })
  await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(ctx.token({ sub, email: `${sub}@example.com`, given_name: 'C', family_name: 'B' })) })
  const second = await ctx.app.db.selectFrom('users').selectAll().where('sub', '=', sub).executeTakeFirstOrThrow()
  t.equal(second.id, first.id)
  t.equal(second.given_name, 'C')
})

t.test('org API keys: accepted in both headers; unknown, wrong secret, revoked, expired, other org refused', async (t) => {
  const ctx = await buildTestApp(t)
  const a = await ownerWithOrg(ctx)
  const b = await ownerWithOrg(ctx)
  const make = (org: { orgId: string, slug: string }, extra: object = {}) =>
    insertApiKey(ctx.app.db, { orgId: org.orgId, orgSlug: org.slug, slug: `k-${randomUUID().slice(0, 8)}`, name: 'k', permissions: ['orgs:read'], ...extra })
  const good = await make(a)
  const get = (slug: string, headers: Record<string, string>) => ctx.app.inject({ method: 'GET', url: `/v2/orgs/${slug}`, headers })

  t.equal((await get(a.slug, { 'x-api-key': good.raw })).statusCode, 200)
  t.equal((await get(a.slug, { 'x-prismeai-api-key': good.raw })).statusCode, 200)
  const used = await ctx.app.db.selectFrom('org_api_keys').select('last_used_at').where('id', '=', good.key.id).executeTakeFirstOrThrow()
  t.ok(used.last_used_at, 'lastUsedAt kept')

  const otherOrg = await get(b.slug, { 'x-api-key': good.raw })
  t.equal(otherOrg.statusCode, 404, 'a key of org A sees nothing of org B')
  t.equal(otherOrg.json().error, 'NotFoundError')

  const [, slug, prefix, secret] = good.raw.split('_') as [string, string, string, string]
  const wrongSecret = `iak_${slug}_${prefix}_${secret.replace(/^./, secret[0] === 'a' ? 'b' : 'a')}`
  const unknownPrefix = `iak_${slug}_${'0'.repeat(16)}_${secret}`
  const wrongSlug = `iak_${b.slug}_${prefix}_${secret}`
  const revoked = await make(a); await ctx.app.db.updateTable('org_api_keys').set({ disabled: true }).where('id', '=', revoked.key.id).execute()
  const expired = await make(a, { expiresAt: new Date(Date.now() - 1000).toISOString() })
  const bodies: string[] = []
  for (const [name, raw] of Object.entries({ 'wrong secret': wrongSecret, 'unknown prefix': unknownPrefix, 'org slug swapped': wrongSlug, revoked: revoked.raw, expired: expired.raw, garbage: 'hello' })) {
    const res = await get(a.slug, { 'x-api-key': raw })
    t.equal(res.statusCode, 401, name)
    t.equal(res.json().error, 'AuthenticationError', name)
    if (name === 'wrong secret' || name === 'unknown prefix') bodies.push(res.json().message)
  }
  t.equal(bodies[0], bodies[1], 'unknown prefix and wrong secret are indistinguishable')

  const noPerm = await ctx.app.inject({ method: 'PATCH', url: `/v2/orgs/${a.slug}`, headers: { 'x-api-key': good.raw }, payload: { name: 'x' } })
  t.equal(noPerm.statusCode, 403)
  t.match(noPerm.json(), { error: 'ForbiddenError', message: /orgs:manage/ })

  const createWithKey = await ctx.app.inject({ method: 'POST', url: '/v2/orgs', headers: { 'x-api-key': good.raw }, payload: { name: 'x' } })
  t.equal(createWithKey.statusCode, 401, 'org creation needs a user')
})
