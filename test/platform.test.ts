import t from 'tap'
import pg from 'pg'
import { parse } from 'yaml'
import { buildTestApp, createTestDatabase, onPostgres } from './helper.ts'
import { routes } from '../generated/routes.ts'
import spec from '../generated/openapi.json' with { type: 'json' }

t.test('every registered route is in the spec, and every operation is registered', async (t) => {
  const ctx = await buildTestApp(t)
  const registered: Array<{ method: string, url: string }> = []
  for (const [id, def] of Object.entries(routes)) {
    t.ok(ctx.app.hasRoute({ method: def.method, url: def.url }), `${id} registered`)
    registered.push({ method: def.method, url: def.url })
  }
  // The reverse: walk Fastify's route table. Swagger UI's own assets under /docs are the only
  // routes not described by the spec.
  const fromSpec = new Set(registered.map((r) => `${r.method} ${r.url}`))
  t.ok(ctx.app.routeList.length >= registered.length)
  t.same(ctx.app.routeList.filter((r) => !fromSpec.has(r) && !r.includes(' /docs')), [], 'no undocumented route')
})

t.test('health, readiness, docs and the spec itself', async (t) => {
  const ctx = await buildTestApp(t)
  t.same((await ctx.app.inject('/healthz')).json(), { status: 'ok' })
  t.same((await ctx.app.inject('/readyz')).json(), { status: 'ok' })
  const json = await ctx.app.inject('/openapi.json')
  t.equal(json.statusCode, 200)
  t.same(json.json(), spec)
  const yaml = await ctx.app.inject('/openapi.yaml')
  t.equal(yaml.statusCode, 200)
  t.same(parse(yaml.body), spec)
  const ui = await ctx.app.inject('/docs/')
  t.equal(ui.statusCode, 200)
  t.match(ui.body, /swagger-ui/i)
})

t.test('readyz answers 503 when the database is gone', async (t) => {
  if (onPostgres) {
    // Its own database, dropped under the running app.
    const url = await createTestDatabase(t)
    const ctx = await buildTestApp(t, { DATABASE_URL: url })
    t.equal((await ctx.app.inject('/readyz')).statusCode, 200)
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL })
    await admin.connect()
    await admin.query(`drop database ${new URL(url).pathname.slice(1)} with (force)`)
    await admin.end()
    const res = await ctx.app.inject('/readyz')
    t.equal(res.statusCode, 503)
    t.match(res.json(), { status: 'unavailable', reason: 'database unreachable' })
  } else {
    const ctx = await buildTestApp(t)
    await ctx.app.database.close()
    const res = await ctx.app.inject('/readyz')
    t.equal(res.statusCode, 503)
    t.match(res.json(), { status: 'unavailable' })
  }
})

t.test('error bodies: unknown routes in each family, and no 500 detail leaks', async (t) => {
  const ctx = await buildTestApp(t)
  const v2 = await ctx.app.inject('/v2/nothing-here/x/y')
  t.equal(v2.statusCode, 404)
  t.match(v2.json(), { error: 'NotFoundError', message: String, requestId: String })
  const pub = await ctx.app.inject('/api/public/nothing')
  t.equal(pub.statusCode, 404)
  t.same(Object.keys(pub.json()), ['error'])
  t.match(pub.json(), { error: { title: 'NotFound', detail: String } })
  const rid = await ctx.app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } })
  t.equal(rid.headers['x-request-id'], 'abc-123')
  const bad = await ctx.app.inject({ url: '/healthz', headers: { 'x-request-id': 'has spaces and ünïcode' } })
  t.not(bad.headers['x-request-id'], 'has spaces and ünïcode')
})
