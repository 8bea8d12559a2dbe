// npm run bench:list: keyset pages against OFFSET pages of 50 members, at several depths of a
// 1,000,000-member org on a real PostgreSQL. Prints the median latency of each (the repository
// functions the routes call, so the figures are the database work of a page) and deep/first.
//   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_MEMBERS
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { connectDatabase } from '../src/db/connect.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { createOrganization } from '../src/db/orgs.ts'
import { seedMembers } from '../src/db/seed.ts'
import { upsertUserFromClaims } from '../src/db/users.ts'
import { listMembersPage } from '../src/db/members.ts'
import { keysetRequest } from '../src/db/keyset.ts'
import { scratchDatabase } from './lib/harness.ts'

const base = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const members = Number(process.env.BENCH_MEMBERS ?? 1_000_000)
const LIMIT = 50
const ROUNDS = 15
const depths = [0, 10_000, Math.floor(members / 2), members - LIMIT].filter((d, i, all) => d >= 0 && d < members && all.indexOf(d) === i)

const scratch = await scratchDatabase(base, 'orgroster_bench_list')
const url = scratch.url
const handle = await connectDatabase({ databaseUrl: url, dataDir: '', poolMax: 4, statementTimeoutMs: 600_000 })
const { db } = handle
try {
  await migrateToLatest(db)
  const owner = await upsertUserFromClaims(db, { sub: 'bench-owner', email: 'bench@example.com' })
  const org = await createOrganization(db, owner.id, { slug: 'bench', name: 'Bench' }, { actorId: null, actorKind: 'system', requestId: null })
  let t0 = performance.now()
  await seedMembers(db, org.id, members - 1)
  const pool = new pg.Client({ connectionString: url }); await pool.connect(); await pool.query('vacuum analyze'); await pool.end()
  console.log(`seeded ${members.toLocaleString()} members in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

  const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] as number }
  const time = async (fn: () => Promise<unknown>) => {
    await fn()
    const samples: number[] = []
    for (let i = 0; i < ROUNDS; i++) { t0 = performance.now(); await fn(); samples.push(performance.now() - t0) }
    return median(samples)
  }
  const rows: Array<{ depth: number, keyset: number, offset: number }> = []
  for (const depth of depths) {
    // The position just before `depth`, found once (not timed), as a client's cursor would carry it.
    const position = depth === 0
      ? null
      : await db.selectFrom('org_memberships').select(['created_at as createdAt', 'id']).where('org_id', '=', org.id)
        .orderBy('created_at', 'desc').orderBy('id', 'desc').offset(depth - 1).limit(1).executeTakeFirstOrThrow()
    const keyset = await time(() => listMembersPage(db, org.id, {}, keysetRequest(LIMIT, position)))
    const offset = await time(() => listMembersPage(db, org.id, {}, { limit: LIMIT, order: 'newest', after: null, offset: depth }))
    rows.push({ depth, keyset, offset })
  }
  const first = rows[0] as { keyset: number, offset: number }
  console.log(`\nmedian latency of a page of ${LIMIT}, ms (${ROUNDS} rounds each)\n`)
  console.log('| depth | keyset | keyset deep/first | OFFSET | OFFSET deep/first | OFFSET / keyset |')
  console.log('|---|---|---|---|---|---|')
  for (const r of rows) {
    console.log(`| ${r.depth.toLocaleString()} | ${r.keyset.toFixed(2)} | ${(r.keyset / first.keyset).toFixed(2)} | ${r.offset.toFixed(2)} | ${(r.offset / first.offset).toFixed(2)} | ${(r.offset / r.keyset).toFixed(1)} |`)
  }
} finally {
  await handle.close()
  await scratch.drop()
}
