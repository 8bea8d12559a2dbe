// Operating the service: structured logs without secrets, shutdown that drains and cuts
// running exports cleanly, database timeouts in effect, probes never rate limited.
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import pg from 'pg'
import { sql } from 'kysely'
import t from 'tap'
import { buildApp } from '../src/app.ts'
import { loggerOptions, redactUrl } from '../src/lib/logging.ts'
import { insertApiKey } from '../src/db/api-keys.ts'
import { bearer, buildTestApp, createTestDatabase, databaseName, onPostgres, ownerWithOrg, testConfig } from './helper.ts'
import { firstChunkThenPause, listen, readAll, seedFatMembers, startExport } from './export-helper.ts'
import { resolveJwtKeys } from '../src/lib/jwt-keys.ts'
import { mintToken, type TokenClaims } from '../src/lib/dev-token.ts'

t.comment(`database: ${databaseName}`)

/** An app whose pino output is captured, one parsed JSON object per line. */
async function appWithLogs (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string> = {}) {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(...String(chunk).split('\n').filter(Boolean)); cb() } })
  const databaseUrl = onPostgres ? await createTestDatabase(t) : undefined
  const config = testConfig({ LOG_LEVEL: 'info', ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}), ...env })
  const app = await buildApp(config, { logger: { ...(loggerOptions(config) as object), stream } })
  t.teardown(() => app.close())
  await app.ready()
  const keys = resolveJwtKeys(config)
  const token = (claims: Partial<TokenClaims> = {}) => mintToken(keys, config, { sub: `user-${randomUUID()}`, ...claims })
  return { app, config, lines, databaseUrl, token, text: () => lines.join('\n') }
}

t.test('logs are JSON lines with the request id, and never carry a token or an API key', async (t) => {
  const ctx = await appWithLogs(t)
  const owner = await ownerWithOrg({ app: ctx.app, config: ctx.config, token: ctx.token })
  const { raw } = await insertApiKey(ctx.app.db, { orgId: owner.orgId, orgSlug: owner.slug, slug: 'logs', name: 'logs', permissions: ['orgs:read'] })
  const forged = owner.token.slice(0, -4) + 'AAAA'
  const requests = [
    { url: `/v2/orgs/${owner.slug}`, headers: { ...bearer(owner.token), 'x-request-id': 'log-test-1' } },
    { url: `/v2/orgs/${owner.slug}`, headers: { 'x-api-key': raw } },
    { url: `/v2/orgs/${owner.slug}`, headers: { 'x-prismeai-api-key': raw, cookie: `session=${raw}` } },
    { url: `/v2/orgs/${owner.slug}`, headers: bearer(forged) },
    { url: `/v2/orgs?apiKey=${raw}&access_token=${owner.token}&search=x`, headers: {} },
    { url: `/v2/orgs/${owner.slug}?token=${encodeURIComponent(owner.token)}`, headers: { authorization: `Bearer ${raw}` } }
  ]
  const before = ctx.lines.length
  for (const r of requests) await ctx.app.inject({ method: 'GET', ...r })

  const text = ctx.text()
  const secretParts = [owner.token, owner.token.split('.')[2]!, forged.split('.')[2]!, raw, raw.split('_').at(-1)!]
  for (const secret of secretParts) t.notOk(text.includes(secret), `a secret (${secret.slice(0, 6)}…) is not in the logs`)
  const entries = ctx.lines.slice(before).map((l) => JSON.parse(l))
  // One line per request (issue 16), written once it is answered, with what an operator needs.
  const lines = entries.filter((e) => e.msg === 'request')
  t.equal(lines.length, requests.length, 'one line per request')
  t.notOk(entries.some((e) => e.msg === 'incoming request' || e.msg === 'request completed'), "Fastify's two lines per request are gone")
  for (const e of lines) t.type(e.reqId, 'string', 'every request line carries reqId')
  t.match(lines[0], { level: 30, reqId: 'log-test-1', method: 'GET', url: `/v2/orgs/${owner.slug}`, route: '/v2/orgs/:orgSlug', status: 200, durationMs: Number, org: owner.slug, ip: String })
  t.notOk('headers' in lines[0] || 'req' in lines[0], 'request headers are not logged')
  t.match(lines[3], { status: 401, org: owner.slug })
  t.match(lines[4], { route: '/v2/orgs', status: 401 })
  t.match(lines[4].url, /apiKey=\[redacted\]&access_token=\[redacted\]&search=x$/)
  t.notOk('org' in lines[4], 'a route without an org names none')
})

t.test('redactUrl keeps ordinary parameters and hides credential-looking ones', async (t) => {
  t.equal(redactUrl('/v2/orgs'), '/v2/orgs')
  t.equal(redactUrl('/x?limit=5&cursor=abc'), '/x?limit=5&cursor=abc')
  t.equal(redactUrl('/x?api_key=s&x-api-key=s&Token=s&flag'), '/x?api_key=[redacted]&x-api-key=[redacted]&Token=[redacted]&flag')
  t.equal(redactUrl('/x?%61pikey=s'), '/x?%61pikey=[redacted]')
})

t.test('readyz answers 503 while draining; probes are never rate limited', async (t) => {
  const ctx = await buildTestApp(t, { RATE_LIMIT_MAX: '2' })
  for (let i = 0; i < 5; i++) {
    t.equal((await ctx.app.inject('/healthz')).statusCode, 200)
    t.equal((await ctx.app.inject('/readyz')).statusCode, 200)
  }
  const limited = [await ctx.app.inject('/openapi.yaml'), await ctx.app.inject('/openapi.yaml'), await ctx.app.inject('/openapi.yaml')]
  t.equal(limited[2]!.statusCode, 429, 'other anonymous routes are limited')
  ctx.app.draining = true
  const draining = await ctx.app.inject('/readyz')
  t.equal(draining.statusCode, 503)
  t.same(draining.json(), { status: 'draining', reason: 'shutting down' })
  t.equal((await ctx.app.inject('/healthz')).statusCode, 200, 'still alive while draining')
})

t.test('closing the app cuts a running export cleanly, then closes the database', async (t) => {
  const ctx = await appWithLogs(t, { EXPORT_PAGE_SIZE: '100', EXPORT_STALL_MS: '60000' })
  const owner = await ownerWithOrg({ app: ctx.app, config: ctx.config, token: ctx.token })
  await seedFatMembers(ctx.app, owner.orgId, 3000)
  const port = await listen(ctx.app)
  const res = await startExport(port, owner.slug, owner.token)
  t.equal(res.statusCode, 200)
  await firstChunkThenPause(res)
  t.notOk(ctx.app.shutdownSignal.aborted)

  await ctx.app.close() // waits neither for the stalled client (60 s) nor for close-with-grace's delay
  t.ok(ctx.app.shutdownSignal.aborted)
  t.equal(ctx.app.draining, true)
  t.equal((await readAll(res)).complete, false, 'the client sees a cut transfer, not a short file that looks whole')
  const entries = ctx.lines.map((l) => JSON.parse(l))
  t.match(entries.find((e) => e.msg === 'export stopped early'), { outcome: 'shutdown', reqId: String })
  t.notOk(entries.some((e) => e.level >= 50), 'no error logged: the audit event was written before the database closed')
  if (onPostgres) {
    const client = new pg.Client({ connectionString: ctx.databaseUrl })
    await client.connect()
    const { rows } = await client.query("select metadata from audit_events where org_id = $1 and action = 'members.exported'", [owner.orgId])
    await client.end()
    t.match(rows, [{ metadata: { outcome: 'shutdown' } }])
  }
})

t.test('PostgreSQL sessions run with statement and idle-in-transaction timeouts and a pool acquire timeout',
  { skip: onPostgres ? false : 'PostgreSQL only: the embedded database is one in-process session with no server-side timeouts or pool' },
  async (t) => {
    const ctx = await buildTestApp(t, { STATEMENT_TIMEOUT_MS: '1500', DB_POOL_MAX: '2', DB_ACQUIRE_TIMEOUT_MS: '300' })
    const show = async (name: string): Promise<string> =>
      (await sql<Record<string, string>>`select current_setting(${name}) as v`.execute(ctx.app.db)).rows[0]!.v!
    t.equal(await show('statement_timeout'), '1500ms')
    t.equal(await show('idle_in_transaction_session_timeout'), '1min')
    t.equal(await show('TimeZone'), 'UTC')

    const slow = await sql`select pg_sleep(3)`.execute(ctx.app.db).then(() => null, (err: { code?: string }) => err)
    t.equal(slow?.code, '57014', 'a statement over the timeout is cancelled by the server')

    // Both connections taken: a request waits DB_ACQUIRE_TIMEOUT_MS, then gets a 503.
    const pool = ctx.app.database.pool!
    const held = [await pool.connect(), await pool.connect()]
    const owner = ctx.token()
    const res = await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(owner) })
    for (const c of held) c.release()
    t.equal(res.statusCode, 503)
    t.match(res.json(), { error: 'ServiceUnavailableError', requestId: String })
    t.equal(res.headers['retry-after'], '1')
    t.equal((await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(owner) })).statusCode, 200, 'served again once connections are free')
  })

t.test('Fastify is at least 5.11.1 (earlier 5.x destroys in-flight connections on close)', async (t) => {
  const { version } = JSON.parse(readFileSync(fileURLToPath(import.meta.resolve('fastify/package.json')), 'utf8')) as { version: string }
  const [major, minor, patch] = version.split('.').map(Number) as [number, number, number]
  t.ok(major > 5 || (major === 5 && (minor > 11 || (minor === 11 && patch >= 1))), `fastify ${version}`)
})
