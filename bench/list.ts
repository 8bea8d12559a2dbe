// npm run bench:list: pages of 100 members at several depths of a 1,000,000-member org on a real
// PostgreSQL, three ways: keyset (a cursor), the plain OFFSET the offset pages used to run, and
// the offset page as it runs now (from the nearest anchor, src/db/offset-anchors.ts, then OFFSET
// over a deferred join: fewer than 1,000 skipped rows counted off the index, only the page's ids
// joined to their rows), and once, the deepest page right after a change to the org (which reads
// the anchors again, one index-only scan). Prints the median latency of each (the
// repository functions the routes call, so the figures are the database work of a page), each
// one's ratio to its own depth 0, and the unfiltered total. The org is kept between runs
// (database orgroster_bench_list) so the seeding is paid once.
//   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_MEMBERS
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { connectDatabase } from '../src/db/connect.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { createOrganization } from '../src/db/orgs.ts'
import { seedMembers } from '../src/db/seed.ts'
import { upsertUserFromClaims } from '../src/db/users.ts'
import { countMembers, listMembersPage, MEMBER_COLUMNS } from '../src/db/members.ts'
import { keysetRequest, pageQuery, type PageRequest } from '../src/db/keyset.ts'
import { benchDatabase, median } from './lib/harness.ts'

const base = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const members = Number(process.env.BENCH_MEMBERS ?? 1_000_000)
const LIMIT = 100
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 25)
const depths = [0, 10_000, Math.floor(members / 2), members - LIMIT].filter((d, i, all) => d >= 0 && d < members && all.indexOf(d) === i)

const url = await benchDatabase(base, 'orgroster_bench_list')
const handle = await connectDatabase({ databaseUrl: url, dataDir: '', poolMax: 4, statementTimeoutMs: 600_000 })
const { db } = handle
try {
  await migrateToLatest(db)
  const slug = `bench-${members}`
  let org = await db.selectFrom('organizations').select('id').where('slug', '=', slug).executeTakeFirst()
  if (org === undefined) {
    const owner = await upsertUserFromClaims(db, { sub: 'bench-owner', email: 'bench@example.com' })
    org = await createOrganization(db, owner.id, { slug, name: 'Bench' }, { actorId: null, actorKind: 'system', requestId: null })
    const t0 = performance.now()
    await seedMembers(db, org.id, members - 1)
    console.log(`seeded ${members.toLocaleString()} members in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  }
  const orgId = org.id
  const client = new pg.Client({ connectionString: url }); await client.connect(); await client.query('vacuum analyze'); await client.end()

  const time = async (fn: () => Promise<unknown>) => {
    await fn()
    const samples: number[] = []
    for (let i = 0; i < ROUNDS; i++) { const t0 = performance.now(); await fn(); samples.push(performance.now() - t0) }
    return median(samples)
  }
  // The plain OFFSET the offset pages ran before the deferred join: every skipped row fetched and joined.
  const plainOffset = async (request: PageRequest) => await pageQuery(db.selectFrom('org_memberships as m').innerJoin('users as u', 'u.id', 'm.user_id')
    .where('m.org_id', '=', orgId).select(MEMBER_COLUMNS), { createdAt: 'm.created_at', id: 'm.id' }, request).execute()

  const rows: Array<{ depth: number, keyset: number, offset: number, deferred: number }> = []
  for (const depth of depths) {
    // The position just before `depth`, found once (not timed), as a client's cursor would carry it.
    const position = depth === 0 ? null : (await listMembersPage(db, orgId, {}, { limit: 1, order: 'newest', after: null, offset: depth - 1 })).rows[0]!
    const atDepth: PageRequest = { limit: LIMIT, order: 'newest', after: null, offset: depth }
    const keyset = await time(() => listMembersPage(db, orgId, {}, keysetRequest(LIMIT, position === null ? null : { createdAt: position.createdAt, id: position.id })))
    const offset = await time(() => plainOffset(atDepth))
    const deferred = await time(() => listMembersPage(db, orgId, {}, atDepth))
    rows.push({ depth, keyset, offset, deferred })
  }
  // A change (one member added) makes the anchors stale: the next deep page reads them again.
  await seedMembers(db, orgId, 1)
  const deepest = depths[depths.length - 1]!
  const t0 = performance.now()
  await listMembersPage(db, orgId, {}, { limit: LIMIT, order: 'newest', after: null, offset: deepest })
  const afterChange = performance.now() - t0
  const total = await time(() => countMembers(db, orgId, {}))
  const first = rows[0]!
  const ratio = (value: number, reference: number) => (value / reference).toFixed(2)
  console.log(`\nmedian latency of a page of ${LIMIT} of ${members.toLocaleString()} members, ms (${ROUNDS} rounds each; ratio: to the same way at depth 0)\n`)
  console.log('| depth | keyset | ratio | OFFSET (before) | ratio | from the anchor, OFFSET over a deferred join (now) | ratio |')
  console.log('|---|---|---|---|---|---|---|')
  for (const r of rows) {
    console.log(`| ${r.depth.toLocaleString()} | ${r.keyset.toFixed(2)} | ${ratio(r.keyset, first.keyset)} | ${r.offset.toFixed(2)} | ${ratio(r.offset, first.offset)} | ${r.deferred.toFixed(2)} | ${ratio(r.deferred, first.deferred)} |`)
  }
  console.log(`\nthe page at depth ${deepest.toLocaleString()} right after a change to the org (the anchors read again): ${afterChange.toFixed(2)} ms`)
  console.log(`unfiltered total (kept per-org counts, no scan): ${total.toFixed(2)} ms`)
} finally {
  await handle.close()
}
