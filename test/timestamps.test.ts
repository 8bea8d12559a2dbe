// Every timestamp leaves the service as UTC ISO 8601 with all six fraction digits: one width,
// so timestamps sort as strings the way they sort as times (PostgreSQL drops trailing zeros).
import { sql } from 'kysely'
import t from 'tap'
import { bearer, buildTestApp, databaseName, ownerWithOrg } from './helper.ts'
import { pgTimestampToIso } from '../src/db/connect.ts'

t.comment(`database: ${databaseName}`)

t.test('PostgreSQL timestamp text becomes fixed-width ISO 8601', async (t) => {
  t.equal(pgTimestampToIso('2026-01-02 03:04:05.123456+00'), '2026-01-02T03:04:05.123456Z')
  t.equal(pgTimestampToIso('2026-01-02 03:04:05.77+00'), '2026-01-02T03:04:05.770000Z')
  t.equal(pgTimestampToIso('2026-01-02 03:04:05+00'), '2026-01-02T03:04:05.000000Z')
  t.equal(pgTimestampToIso('2026-01-02 03:04:05.1'), '2026-01-02T03:04:05.100000Z', 'timestamp without time zone')
  t.equal(pgTimestampToIso('2026-01-02 03:04:05.5+00:00'), '2026-01-02T03:04:05.500000Z')
})

t.test('the database hands back every timestamp at full width, and the API sends it so', async (t) => {
  const ctx = await buildTestApp(t)
  const read = await sql<{ whole: string, tenth: string, micro: string }>`
    select '2026-01-02 03:04:05+00'::timestamptz as whole,
           '2026-01-02 03:04:05.1+00'::timestamptz as tenth,
           '2026-01-02 03:04:05.000001+00'::timestamptz as micro`.execute(ctx.app.db)
  t.same(read.rows[0], { whole: '2026-01-02T03:04:05.000000Z', tenth: '2026-01-02T03:04:05.100000Z', micro: '2026-01-02T03:04:05.000001Z' })

  const owner = await ownerWithOrg(ctx)
  await ctx.app.db.updateTable('organizations').set({ created_at: '2026-03-04 05:06:07.25+00' }).where('id', '=', owner.orgId).execute()
  const org = await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}`, headers: bearer(owner.token) })
  t.equal(org.statusCode, 200)
  t.equal(org.json().createdAt, '2026-03-04T05:06:07.250000Z')
})
