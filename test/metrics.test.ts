// GET /metrics after real traffic: the scrape is parsed with a Prometheus text-format parser
// (parse-prometheus-text-format; prom-client writes the format but has no parser) and
// each family holds what the traffic did: requests by route template and status, an export's
// rows and bytes and outcome, import lines by outcome, the pools (PostgreSQL), rate-limit
// refusals. Without METRICS_TOKEN the endpoint is off; a wrong or missing token is a 401; no
// org slug, email or token appears in the text.
import t from 'tap'
import parse, { type MetricFamily } from 'parse-prometheus-text-format'
import { bearer, buildTestApp, onPostgres, ownerWithOrg, randomSlug } from './helper.ts'

const METRICS_TOKEN = 'metrics-token-0123456789abcdef'

function sample (families: MetricFamily[], name: string, labels: Record<string, string>): number | undefined {
  const family = families.find((f) => f.name === name)
  const found = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
  const value = found?.value ?? found?.count
  return value === undefined ? undefined : Number(value)
}

t.test('the metrics are off without METRICS_TOKEN', async (t) => {
  const ctx = await buildTestApp(t)
  const res = await ctx.app.inject({ method: 'GET', url: '/metrics', headers: bearer(ctx.token()) })
  t.equal(res.statusCode, 404)
  t.match(res.json(), { error: 'NotFoundError', message: /METRICS_TOKEN/ })
})

t.test('a scrape after real traffic', async (t) => {
  const ctx = await buildTestApp(t, { METRICS_TOKEN, RATE_LIMIT_MAX: '40' })
  const { app } = ctx
  const owner = await ownerWithOrg(ctx)
  const auth = bearer(owner.token)
  const email = `${randomSlug('member')}@example.com`
  t.equal((await app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: auth, payload: { users: [{ email }] } })).statusCode, 201)
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/members?limit=5`, headers: auth })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/members/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`, headers: auth })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/no-such-route' })).statusCode, 404)
  // Import: one created, one skipped (already a member), one failed (no email or userId).
  const csv = `email,firstName\r\n${randomSlug('new')}@example.com,New\r\n${email},Old\r\n,Nobody\r\n`
  const imported = await app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members/import`, headers: { ...auth, 'content-type': 'text/csv' }, payload: csv })
  t.match(imported.json(), { created: 1, skipped: 1, failedCount: 1 })
  const exported = await app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members/export`, headers: auth })
  t.equal(exported.statusCode, 200)
  const exportedRows = exported.body.split('\r\n').length - 2
  // A second user over the per-credential limit of 40.
  const hammer = bearer(ctx.token())
  let refused = 0
  for (let i = 0; i < 45; i++) if ((await app.inject({ method: 'GET', url: '/v2/orgs', headers: hammer })).statusCode === 429) refused++
  t.equal(refused, 5)

  for (const headers of [{}, bearer('wrong-token-0123456789abcdef'), bearer(owner.token), { 'x-api-key': METRICS_TOKEN }]) {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers })
    t.equal(res.statusCode, 401, `refused with ${Object.keys(headers).join() || 'no credential'}`)
    t.match(res.json(), { error: 'AuthenticationError' })
  }

  const res = await app.inject({ method: 'GET', url: '/metrics', headers: bearer(METRICS_TOKEN) })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const families = parse(res.body)

  const requests = (route: string, status: string, method = 'GET') => sample(families, 'orgroster_http_requests_total', { method, route, status })
  t.equal(requests('/v2/orgs/:orgSlug/members', '200'), 3, 'three list pages, by route template')
  t.equal(requests('/v2/orgs/:orgSlug/members', '201', 'POST'), 1)
  t.equal(requests('/v2/orgs/:orgSlug/members/:userId', '404'), 1)
  t.equal(requests('(unmatched)', '404'), 1, 'an unknown URL is one label, not its path')
  t.equal(requests('/v2/orgs', '429'), 5)
  t.equal(requests('/metrics', '401'), 4)
  t.equal(families.find((f) => f.name === 'orgroster_http_request_duration_seconds')?.type, 'HISTOGRAM')
  // The parser folds labelled histograms into one sample, so their _count line is read as text.
  t.match(res.body, /^orgroster_http_request_duration_seconds_count\{method="GET",route="\/v2\/orgs\/:orgSlug\/members",status="200"\} 3$/m, 'the histogram counted the same three')

  const exportRoute = { route: '/v2/orgs/:orgSlug/members/export' }
  t.equal(sample(families, 'orgroster_export_rows_total', exportRoute), exportedRows)
  t.equal(sample(families, 'orgroster_export_bytes_total', exportRoute), Buffer.byteLength(exported.body))
  t.equal(sample(families, 'orgroster_exports_total', { ...exportRoute, outcome: 'complete' }), 1)
  t.equal(sample(families, 'orgroster_exports_running', exportRoute), 0)

  for (const [outcome, n] of [['created', 1], ['skipped', 1], ['failed', 1]] as const) {
    t.equal(sample(families, 'orgroster_import_rows_total', { outcome, dry_run: 'false' }), n, `import ${outcome}`)
  }
  t.equal(sample(families, 'orgroster_rate_limited_total', { limit: 'requests' }), 5)

  if (onPostgres) {
    for (const name of ['orgroster_db_pool_connections', 'orgroster_db_pool_idle', 'orgroster_db_pool_waiting']) {
      t.ok(sample(families, name, { pool: 'main' }) !== undefined && sample(families, name, { pool: 'export' }) !== undefined, `${name} for both pools`)
    }
    t.ok(sample(families, 'orgroster_db_pool_connections', { pool: 'main' })! >= 1, 'the main pool has a connection open')
  }
  t.ok(families.some((f) => f.name === 'process_resident_memory_bytes'), 'process figures too')

  for (const secret of [owner.slug, email, owner.token, METRICS_TOKEN]) t.notOk(res.body.includes(secret), 'no org, email or token in the text')
})
