// The unfiltered `total` of a member list is the count kept by triggers (migration 0401). It
// must equal a real count after every way memberships come and go, under concurrency, and for
// the memberships that existed before the migration.
import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import t from 'tap'
import { bearer, buildTestApp, createTestDatabase, databaseName, onPostgres, ownerWithOrg, type TestApp } from './helper.ts'
import { insertMembers } from './export-helper.ts'
import { seedMembers } from '../src/db/seed.ts'
import { migrateToLatest, migrator } from '../src/db/migrate.ts'
import type { Database } from '../src/db/schema.ts'

t.comment(`database: ${databaseName}`)

async function scanned (db: Kysely<Database>, orgId: string, status?: string): Promise<number> {
  let query = db.selectFrom('org_memberships').select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', orgId)
  if (status !== undefined) query = query.where('status', '=', status as any)
  return Number((await query.executeTakeFirstOrThrow()).n)
}

async function listedTotal (ctx: TestApp, slug: string, token: string, query = ''): Promise<number> {
  const res = await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${slug}/members?limit=1${query}`, headers: bearer(token) })
  if (res.statusCode !== 200) throw new Error(`list failed: ${res.statusCode} ${res.body}`)
  return res.json().total
}

t.test('the kept count follows every way memberships come and go', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const expect = async (n: number, step: string) => {
    t.equal(await listedTotal(ctx, owner.slug, owner.token), n, `${step}: total`)
    t.equal(await scanned(ctx.app.db, owner.orgId), n, `${step}: counted rows agree`)
  }
  await expect(1, 'the owner')
  const emails = Array.from({ length: 30 }, (_, i) => `count-${i}-${randomUUID()}@example.com`)
  const added = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users: emails.map((email) => ({ email })) } })
  t.equal(added.statusCode, 201)
  await expect(31, 'bulk add')
  const csv = ['email', ...emails.slice(0, 2), ...Array.from({ length: 5 }, () => `imported-${randomUUID()}@example.com`)].join('\r\n') + '\r\n'
  const imported = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members/import`, headers: { ...bearer(owner.token), 'content-type': 'text/csv' }, payload: csv })
  t.match(imported.json(), { created: 5, skipped: 2, failed: [] })
  await expect(36, 'import')
  const ids = added.json().map((m: { userId: string }) => m.userId) as string[]
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `/v2/orgs/${owner.slug}/members/${ids[0]}`, headers: bearer(owner.token) })).statusCode, 200)
  await expect(35, 'one removed')
  const bulk = await ctx.app.inject({ method: 'DELETE', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { userIds: [...ids.slice(0, 5), randomUUID()] } })
  t.equal(bulk.statusCode, 200)
  await expect(31, 'bulk removal, one already gone and one unknown')
  await seedMembers(ctx.app.db, owner.orgId, 100)
  await expect(131, 'seeded by the database in one statement')
  await insertMembers(ctx.app, owner.orgId, [{}, { status: 'invited' }, { status: 'suspended' }])
  await expect(134, 'rows inserted directly')
  for (const status of ['invited', 'suspended', 'active']) {
    t.equal(await listedTotal(ctx, owner.slug, owner.token, `&status=${status}`), await scanned(ctx.app.db, owner.orgId, status), `filtered by ${status}: counted`)
  }
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `/v2/orgs/${owner.slug}`, headers: bearer(owner.token) })).statusCode, 200)
  const left = await ctx.app.db.selectFrom('org_member_counts').select('members').where('org_id', '=', owner.orgId).execute()
  t.same(left, [], 'deleting the org deletes its count')
})

t.test('concurrent adds and removals of overlapping people leave the count exact', { skip: !onPostgres && 'PGlite has one session: requests cannot overlap in the database' }, async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const emails = Array.from({ length: 40 }, (_, i) => `race-${i}-${randomUUID()}@example.com`)
  const add = (list: string[]) => ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users: list.map((email) => ({ email })), skipExisting: true } })
  const first = await add(emails.slice(0, 20))
  const firstIds = first.json().map((m: { userId: string }) => m.userId) as string[]
  const responses = await Promise.all([
    ...Array.from({ length: 10 }, (_, i) => add(i % 2 === 0 ? emails : [...emails].reverse())),
    ...firstIds.slice(0, 10).map((id) => ctx.app.inject({ method: 'DELETE', url: `/v2/orgs/${owner.slug}/members/${id}`, headers: bearer(owner.token) }))
  ])
  t.same(responses.filter((r) => r.statusCode >= 300).map((r) => `${r.statusCode} ${r.body}`), [], 'every request succeeded')
  t.equal(await listedTotal(ctx, owner.slug, owner.token), await scanned(ctx.app.db, owner.orgId), 'the kept count equals the rows')
})

t.test('the migration counts the memberships that existed before it', async (t) => {
  // Its own database: the test migrates down and up again.
  const ctx = await buildTestApp(t, onPostgres ? { DATABASE_URL: await createTestDatabase(t) } : {})
  const a = await ownerWithOrg(ctx)
  const b = await ownerWithOrg(ctx)
  // Back to just before the counts (later migrations go down first).
  const down = await migrator(ctx.app.db).migrateTo('2026-11-23-0301-admin-indexes')
  t.equal(down.error, undefined)
  t.match(down.results?.at(-1), { migrationName: '2026-11-24-0401-member-counts', direction: 'Down', status: 'Success' })
  await seedMembers(ctx.app.db, a.orgId, 250)
  await seedMembers(ctx.app.db, b.orgId, 40)
  await migrateToLatest(ctx.app.db)
  const kept = await ctx.app.db.selectFrom('org_member_counts').select(['org_id', 'members']).where('org_id', 'in', [a.orgId, b.orgId]).execute()
  t.same(Object.fromEntries(kept.map((r) => [r.org_id, Number(r.members)])), { [a.orgId]: 251, [b.orgId]: 41 }, 'one backfilled row per org')
  t.equal(await listedTotal(ctx, a.slug, a.token), await scanned(ctx.app.db, a.orgId))
})
