// The hot read paths run as prepared statements (src/db/prepared.ts): compiled once, named on
// PostgreSQL, and the same answers as the statements built per request.
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { buildTestApp, databaseName, onPostgres, ownerWithOrg } from './helper.ts'
import { insertApiKey } from '../src/db/api-keys.ts'
import { seedMembers } from '../src/db/seed.ts'
import { preparedStatement } from '../src/db/prepared.ts'

t.comment(`database: ${databaseName}`)

async function keyedList (env: Record<string, string>, t: Test) {
  const ctx = await buildTestApp(t, env)
  const owner = await ownerWithOrg(ctx)
  await seedMembers(ctx.app.db, owner.orgId, 45)
  const { raw } = await insertApiKey(ctx.app.db, { orgId: owner.orgId, orgSlug: owner.slug, slug: 'reader', name: 'Reader', permissions: ['orgs:members:read'] })
  const list = async (query: string) => {
    const res = await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/members?${query}`, headers: { 'x-api-key': raw } })
    t.equal(res.statusCode, 200, query)
    return res.json()
  }
  return { ctx, owner, list }
}

t.test('named on PostgreSQL: the key lookup, both pages and the kept total, planned once per connection', { skip: onPostgres ? false : 'named statements are a pg pool feature; PGlite runs the same statements unnamed' }, async (t) => {
  const { ctx, list } = await keyedList({ DB_POOL_MAX: '2' }, t)
  for (let i = 0; i < 6; i++) {
    const first = await list('limit=20')
    await list(`limit=20&cursor=${encodeURIComponent(first.nextCursor)}`)
  }
  // Each of the two connections has run all of them by now; ask both (two queries in flight).
  const statements = await Promise.all([0, 1].map(async () => (await sql<{ name: string, statement: string }>`
    select name, statement, pg_sleep(0.05) from pg_prepared_statements where name like 'orgroster_%'`.execute(ctx.app.db)).rows))
  const seen = new Set(statements.flat().map((s) => s.statement))
  t.ok([...seen].some((s) => s.includes('"org_api_keys"') && s.includes('"prefix" = $1')), 'the API key lookup')
  t.ok([...seen].some((s) => s.includes('"org_memberships"') && !s.includes(' < (')), 'the first page')
  t.ok([...seen].some((s) => s.includes('"org_memberships"') && s.includes(' < (')), 'the page after a cursor')
  t.ok([...seen].some((s) => s.includes('"org_member_counts"')), 'the kept total')
  t.notOk([...seen].some((s) => /\.\*|select \*/.test(s)), 'no prepared statement selects *')
})

t.test('DB_NAMED_STATEMENTS=false sends them unnamed (for a pooler without prepared statement support)', { skip: onPostgres ? false : 'PostgreSQL only' }, async (t) => {
  const { ctx, list } = await keyedList({ DB_POOL_MAX: '2', DB_NAMED_STATEMENTS: 'false' }, t)
  await list('limit=20')
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_prepared_statements`.execute(ctx.app.db)
  t.equal(rows[0]?.n, 0)
})

t.test('the prepared pages walk the org in the order of the index, with the kept total', async (t) => {
  const { ctx, owner, list } = await keyedList({}, t)
  const walked: string[] = []
  for (let page = await list('limit=10'); ; page = await list(`limit=10&cursor=${encodeURIComponent(page.nextCursor)}`)) {
    walked.push(...page.results.map((m: { userId: string }) => m.userId))
    if (page.nextCursor === null) break
  }
  const expected = await ctx.app.db.selectFrom('org_memberships').select('user_id').where('org_id', '=', owner.orgId)
    .orderBy('created_at', 'desc').orderBy('id', 'desc').execute()
  t.same(walked, expected.map((r) => r.user_id))
  t.equal((await list('limit=1')).total, expected.length)
  t.equal(expected.length, 46, '45 seeded and the owner')
})

t.test('a column added after the statements were prepared changes nothing they return', async (t) => {
  const { ctx, list } = await keyedList({ DB_POOL_MAX: '2' }, t)
  const before = await list('limit=5')
  await sql`alter table users add column added_later text`.execute(ctx.app.db)
  await sql`alter table org_api_keys add column note text`.execute(ctx.app.db)
  t.teardown(async () => {
    await sql`alter table users drop column added_later`.execute(ctx.app.db).catch(() => {})
    await sql`alter table org_api_keys drop column note`.execute(ctx.app.db).catch(() => {})
  })
  t.same(await list('limit=5'), before)
})

t.test('a statement keeps its constants and refuses an argument it does not use as a value', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const ownersOf = preparedStatement((db, orgId: string) => db.selectFrom('org_memberships').select('role_slug')
    .where('org_id', '=', orgId).where('role_slug', '=', 'owner'))
  t.same(await ownersOf.execute(ctx.app.db, owner.orgId), [{ role_slug: 'owner' }])
  t.same(await ownersOf.execute(ctx.app.db, '00000000-0000-4000-8000-000000000000'), [])

  const lowered = preparedStatement((db, slug: string) => db.selectFrom('organizations').select('id').where('slug', '=', `${slug}-copy`))
  await t.rejects(lowered.execute(ctx.app.db, owner.slug), /argument 0 must be used once, unchanged, as a value/)
  const everything = preparedStatement((db, slug: string) => db.selectFrom('organizations').selectAll().where('slug', '=', slug))
  await t.rejects(everything.execute(ctx.app.db, owner.slug), /name its columns/)
})
