import { randomUUID } from 'node:crypto'
import t from 'tap'
import { sql } from 'kysely'
import { insertApiKey } from '../src/db/api-keys.ts'
import { bearer, buildTestApp, databaseName, ownerWithOrg, randomSlug, type TestApp } from './helper.ts'
import { PLATFORM, exportCsv, exportJson, platform } from './admin-helper.ts'

t.comment(`database: ${databaseName}`)

async function anApplication (ctx: TestApp): Promise<string> {
  const res = await ctx.app.inject({ method: 'POST', url: '/api/admin/applications', headers: platform(ctx), payload: { slug: randomSlug('app'), name: 'A' } })
  return res.json().id
}

t.test('permission matrix: each export needs its own platform permission; API keys are refused', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const appId = await anApplication(ctx)
  const { raw: key } = await insertApiKey(ctx.app.db, { orgId: owner.orgId, orgSlug: owner.slug, slug: 'k', name: 'K', permissions: ['*'] })
  const matrix = [
    { path: `users?organizationId=${owner.orgId}`, needs: 'user:read' },
    { path: 'organizations', needs: 'org:read' },
    { path: `clients?organizationId=${owner.orgId}`, needs: 'client:read' },
    { path: `roles?applicationId=${appId}`, needs: 'role:read' },
    { path: `audit?organizationId=${owner.orgId}`, needs: 'audit:read' }
  ]
  for (const { path, needs } of matrix) {
    t.equal((await exportJson(ctx, path, platform(ctx, [needs]))).status, 200, `${path} with only ${needs}`)
    t.equal((await exportCsv(ctx, path, platform(ctx, [needs]))).status, 200, `${path} csv with only ${needs}`)
    const without = await exportJson(ctx, path, platform(ctx, PLATFORM.filter((p) => p !== needs)))
    t.equal(without.status, 403, `${path} without ${needs}`)
    t.same(without.json, { error: 'ForbiddenError', message: `Missing permission ${needs}`, requestId: without.headers['x-request-id'] })
    t.equal((await exportJson(ctx, path, bearer(owner.token))).status, 403, `${path}: org owner has no platform permission`)
    for (const [header, value] of [['x-api-key', key], ['x-prismeai-api-key', key], ['authorization', `Bearer ${key}`]]) {
      const keyed = await exportJson(ctx, path, { [header!]: value! })
      t.equal(keyed.status, 401, `${path} with ${header}`)
      t.match(keyed.json, { error: 'AuthenticationError', message: 'API keys are not accepted on this route; use a Bearer token' })
    }
    const anonymous = await exportJson(ctx, path, {})
    t.equal(anonymous.status, 401)
    t.match(anonymous.json, { error: 'AuthenticationError', message: 'Send a Bearer token' })
  }
})

t.test('bad parameters: 400 with the field named; unknown org or application: 404', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const org = owner.orgId
  const appId = await anApplication(ctx)
  const bad: Array<[string, string, string]> = [
    [`users?organizationId=${org}&format=xml`, 'querystring/format', 'must be equal to one of the allowed values'],
    ['organizations?format=CSV', 'querystring/format', 'must be equal to one of the allowed values'],
    ['users', 'querystring/organizationId', "must have required property 'organizationId'"],
    ['clients', 'querystring/organizationId', "must have required property 'organizationId'"],
    ['audit', 'querystring/organizationId', "must have required property 'organizationId'"],
    ['users?organizationId=not-a-uuid', 'querystring/organizationId', 'must match format "uuid"'],
    ['clients?organizationId=1234', 'querystring/organizationId', 'must match format "uuid"'],
    ['audit?organizationId=', 'querystring/organizationId', 'must match format "uuid"'],
    ['roles', 'querystring/applicationId', "must have required property 'applicationId'"],
    ['roles?applicationId=nope', 'querystring/applicationId', 'must match format "uuid"'],
    [`audit?organizationId=${org}&startDate=yesterday`, 'querystring/startDate', 'must match format "date-time"'],
    [`audit?organizationId=${org}&endDate=2026-01-31T25:00:00Z`, 'querystring/endDate', 'must match format "date-time"'],
    [`audit?organizationId=${org}&startDate=2026-01-01T00:00:00`, 'querystring/startDate', 'must match format "date-time"'],
    [`audit?organizationId=${org}&startDate=2026-02-01T00:00:00Z&endDate=2026-01-31T23:59:59Z`, 'querystring/startDate', 'is after endDate'],
    [`audit?organizationId=${org}&startDate=2026-02-01&endDate=2026-01-31`, 'querystring/startDate', 'is after endDate'],
    [`users?organizationId=${org}&startDate=2026-01-01`, 'querystring/startDate', 'is not an allowed property'],
    [`roles?applicationId=${appId}&organizationId=${org}`, 'querystring/organizationId', 'is not an allowed property']
  ]
  for (const [path, field, message] of bad) {
    const res = await exportJson(ctx, path)
    t.equal(res.status, 400, path)
    t.equal(res.json.error, 'ValidationError', path)
    t.equal(res.json.message, `${field} ${message}`, path)
    t.match(res.json.details, [{ field, message }], path)
    t.equal(res.json.requestId, res.headers['x-request-id'])
  }
  const unknown = randomUUID()
  for (const entity of ['users', 'clients', 'audit']) {
    const res = await exportCsv(ctx, `${entity}?organizationId=${unknown}`)
    t.equal(res.status, 404, entity)
    t.same(JSON.parse(res.body), { error: 'NotFoundError', message: `Organization ${unknown} not found`, requestId: res.headers['x-request-id'] })
  }
  const role = await exportJson(ctx, `roles?applicationId=${unknown}`)
  t.equal(role.status, 404)
  t.same(role.json, { error: 'NotFoundError', message: `Application ${unknown} not found`, requestId: role.headers['x-request-id'] })
  // Same start and end, and a start inside an end day, are not errors.
  t.equal((await exportJson(ctx, `audit?organizationId=${org}&startDate=2026-01-31&endDate=2026-01-31`)).status, 200)
  t.equal((await exportJson(ctx, `audit?organizationId=${org}&startDate=2026-01-31T12:00:00Z&endDate=2026-01-31`)).status, 200)
})

/** Inserts audit events of `orgId` at the given instants (SQL text, microseconds kept). */
async function eventsAt (ctx: TestApp, orgId: string, instants: string[]): Promise<void> {
  await ctx.app.db.insertInto('audit_events')
    .values(instants.map((at) => ({ org_id: orgId, actor_kind: 'system', action: `test.${at}`, created_at: at }))).execute()
}

t.test('date filters: both bounds inclusive at the precision given', async (t) => {
  const ctx = await buildTestApp(t)
  const { orgId } = await ownerWithOrg(ctx)
  await eventsAt(ctx, orgId, [
    '2025-12-31T23:59:59.999999Z', '2026-01-01T00:00:00.000000Z', '2026-01-15T12:00:00.000000Z',
    '2026-01-31T23:59:59.000000Z', '2026-01-31T23:59:59.999999Z', '2026-02-01T00:00:00.000000Z'
  ])
  const actions = async (query: string): Promise<string[]> => {
    const res = await exportJson(ctx, `audit?organizationId=${orgId}&${query}`)
    t.equal(res.status, 200, query)
    return res.json.data.map((e: { action: string }) => e.action.replace('test.', '')).filter((a: string) => a.startsWith('202'))
  }
  const january = ['2026-01-31T23:59:59.999999Z', '2026-01-31T23:59:59.000000Z', '2026-01-15T12:00:00.000000Z', '2026-01-01T00:00:00.000000Z']
  t.same(await actions('startDate=2026-01-01T00:00:00Z&endDate=2026-01-31T23:59:59Z'), january, 'a time without fraction covers its whole second')
  t.same(await actions('startDate=2026-01-01&endDate=2026-01-31'), january, 'a date covers its whole day')
  t.same(await actions('startDate=2026-01-01T01:00:00%2B01:00&endDate=2026-02-01T00:59:59%2B01:00'), january, 'offsets are honoured')
  t.same(await actions('startDate=2026-01-01T00:00:00.000000Z&endDate=2026-01-31T23:59:59.000000Z'), january.slice(1), 'a fraction is exact')
  t.same(await actions('startDate=2026-01-15T12:00:00.000000Z&endDate=2026-01-15T12:00:00.000000Z'), ['2026-01-15T12:00:00.000000Z'], 'one instant')
  t.same(await actions('startDate=2026-02-01'), ['2026-02-01T00:00:00.000000Z'])
  t.same(await actions('endDate=2025-12-31'), ['2025-12-31T23:59:59.999999Z'])
})

t.test('audit cap: exactly 10,000 rows is whole, 10,001 is truncated to the newest 10,000', async (t) => {
  const ctx = await buildTestApp(t)
  for (const [formatFirst, formatThen] of [['json', 'csv'], ['csv', 'json']] as const) {
    const { orgId } = await ownerWithOrg(ctx)
    // One event per second going back from 2025-06-01; the filter leaves out the org's own
    // events and the exports' events, so the counts are exact.
    const bulk = async (from: number, to: number) => await sql`insert into audit_events (org_id, actor_kind, action, created_at)
      select ${orgId}::uuid, 'system', 'bulk.' || i, timestamptz '2025-06-01T00:00:00Z' - make_interval(secs => i)
      from generate_series(${from}::int, ${to}::int) as i`.execute(ctx.app.db)
    await bulk(1, 10_000)
    const path = `audit?organizationId=${orgId}&endDate=2025-06-01`
    const check = async (format: 'json' | 'csv', truncated: boolean) => {
      const res = format === 'json' ? await exportJson(ctx, path) : await exportCsv(ctx, path)
      t.equal(res.status, 200)
      t.equal(res.headers['x-export-truncated'], truncated ? 'true' : undefined, `${format}: header`)
      const actions: string[] = format === 'json' ? (res as any).json.data.map((e: { action: string }) => e.action) : (res as any).rows.map((r: string[]) => r[4])
      t.equal(actions.length, 10_000, `${format}: 10,000 rows`)
      t.equal(actions[0], 'bulk.1', 'newest first')
      t.equal(actions.at(-1), 'bulk.10000', 'the oldest kept')
      if (format === 'json') t.match((res as any).json, { total: 10_000, truncated })
    }
    await check(formatFirst, false)
    // A 10,001st, older event: the newest 10,000 are the same rows and the extra one is cut.
    await bulk(10_001, 10_001)
    await check(formatThen, true)
  }
})
