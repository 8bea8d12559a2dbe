// Log capture (issue 11): org API keys, JWTs and invitation tokens placed in query strings
// (under any name), in paths and in headers never appear in the log; the request lines still do.
import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import t from 'tap'
import { buildApp } from '../src/app.ts'
import { insertApiKey } from '../src/db/api-keys.ts'
import { mintToken } from '../src/lib/dev-token.ts'
import { resolveJwtKeys } from '../src/lib/jwt-keys.ts'
import { loggerOptions, redactCredentials } from '../src/lib/logging.ts'
import { bearer, createTestDatabase, databaseName, onPostgres, ownerWithOrg, testConfig } from './helper.ts'

t.comment(`database: ${databaseName}`)

t.test('credentials in query strings, paths and headers never reach the log', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(...String(chunk).split('\n').filter(Boolean)); cb() } })
  const databaseUrl = onPostgres ? await createTestDatabase(t) : undefined
  const config = testConfig({ LOG_LEVEL: 'info', ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) })
  const app = await buildApp(config, { logger: { ...(loggerOptions(config) as object), stream } })
  // Headers a handler or hook logs by hand go through the same redaction.
  app.addHook('onRequest', async (request) => { request.log.info({ headers: request.headers }, 'headers seen') })
  t.teardown(() => app.close())
  await app.ready()
  const keys = resolveJwtKeys(config)
  const token = (claims = {}) => mintToken(keys, config, { sub: `user-${randomUUID()}`, ...claims })
  const owner = await ownerWithOrg({ app, config, token })
  const { raw: apiKey } = await insertApiKey(app.db, { orgId: owner.orgId, orgSlug: owner.slug, slug: 'logs', name: 'logs', permissions: ['orgs:*'] })
  const added = await app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users: [{ email: `${randomUUID()}@example.com` }] } })
  const invite: string = added.json()[0].inviteToken
  t.type(invite, 'string')

  const secrets = { apiKey, jwt: owner.token, invite }
  const before = lines.length
  for (const [name, secret] of Object.entries(secrets)) {
    const requests = [
      { url: `/v2/orgs/${owner.slug}/members?q=${secret}` },
      { url: `/v2/orgs/${owner.slug}/members?q=${encodeURIComponent(secret)}&limit=5` },
      { url: `/v2/orgs/${owner.slug}/members?filter[x]=${secret}` },
      { url: `/v2/orgs/${owner.slug}/members/${secret}` },
      { url: `/v2/orgs/${secret}/members` },
      { url: `/nowhere/${secret}/x` },
      { url: `/v2/orgs/${owner.slug}`, headers: { 'x-debug': `id ${secret}`, referer: `https://app.example.com/?s=${secret}`, 'x-api-key': apiKey } }
    ]
    for (const r of requests) await app.inject({ method: 'GET', ...r, headers: { ...bearer(owner.token), ...r.headers } })
    const text = lines.slice(before).join('\n')
    t.notOk(text.includes(secret), `the ${name} is not in the log`)
    t.notOk(text.includes(secret.slice(-24)), `nor a tail of the ${name}`)
  }
  const logged = lines.slice(before).map((l) => JSON.parse(l))
  // One line per request once answered (issue 16): its URL and org are redacted too.
  const requestLines = logged.filter((e) => e.msg === 'request')
  t.ok(requestLines.length >= 19, 'the requests are logged')
  for (const e of requestLines) t.ok(e.url.includes('[redacted]') || e.url === `/v2/orgs/${owner.slug}`, e.url)
  t.match(requestLines[0].url, `/v2/orgs/${owner.slug}/members?q=[redacted]`)
  t.ok(requestLines.some((e) => e.org === '[redacted]'), 'a credential given as the org slug is redacted in `org`')
  t.match(logged.find((e) => e.msg === 'headers seen' && 'x-debug' in e.headers).headers, { authorization: '[redacted]', 'x-debug': 'id [redacted]' })
})

t.test('redactCredentials keeps ids, slugs and cursors readable', async (t) => {
  const kept = ['/v2/orgs/acme-0123456789-very-long-organization-slug/members', '/members/0f8c1a5e-1234-4abc-8def-0123456789ab',
    '?cursor=eyJjIjoiMjAyNi0xMi0wMSJ9', 'ab'.repeat(40), '?limit=20&sort=-createdAt']
  for (const text of kept) t.equal(redactCredentials(text), text, text)
  t.equal(redactCredentials('x iak%5Facme%5F0011 y'), 'x [redacted] y', 'a percent-encoded key')
  t.equal(redactCredentials('whsec_abcdef'), '[redacted]', 'a webhook secret')
})
