// Admin export benchmark (PostgreSQL): the users and audit exports over HTTP, each beside
// `psql -c "\copy (the same query) TO STDOUT WITH CSV HEADER"` measured in the same run, and
// the server's peak RSS at 100,000 and 1,000,000 rows.
//
//   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/admin-export.ts
//   options: --sizes 100000,1000000  --rounds 3  --formats csv,json  --entities users,audit
//
// It keeps its database (orgroster_bench_admin) between runs, so seeding happens once.
// The audit export is capped at 10,000 rows whatever matches: its reference is the same capped
// query. Targets (PERFORMANCE.md): ratio (\copy time / export time) >= 0.5, peak RSS < 150 MB,
// flat from 100,000 to 1,000,000 rows.
import { parseArgs } from 'node:util'
import { sql } from 'kysely'
import { connectDatabase } from '../src/db/connect.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { seedMembers } from '../src/db/seed.ts'
import { adminExportQuery, type AdminExportEntity } from '../src/db/admin-export.ts'
import { AUDIT_EXPORT_MAX_ROWS } from '../src/routes/admin/exports.ts'
import { loadConfig } from '../src/config.ts'
import { resolveJwtKeys } from '../src/lib/jwt-keys.ts'
import { mintToken } from '../src/lib/dev-token.ts'
import { benchDatabase, curlDownload, inlineParameters, median, psqlCopy } from './lib/harness.ts'
import { serverPeakRss, startServer } from './server-process.ts'

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100000,1000000' },
    rounds: { type: 'string', default: '3' },
    formats: { type: 'string', default: 'csv,json' },
    entities: { type: 'string', default: 'users,audit' }
  }
})
const sizes = args.sizes.split(',').map(Number)
const rounds = Number(args.rounds)
const formats = args.formats.split(',') as Array<'csv' | 'json'>

const url = await benchDatabase(process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', 'orgroster_bench_admin')
const handle = await connectDatabase({ databaseUrl: url, dataDir: '.data', poolMax: 2, statementTimeoutMs: 3_600_000 })
await migrateToLatest(handle.db)

/** An org named after its size, with that many members and that many audit events. */
async function seededOrg (size: number): Promise<string> {
  const slug = `bench-${size}`
  const found = await handle.db.selectFrom('organizations').select('id').where('slug', '=', slug).executeTakeFirst()
  if (found) return found.id
  console.error(`seeding ${slug}: ${size} members and ${size} audit events...`)
  const org = await handle.db.insertInto('organizations').values({ slug, name: slug }).returning('id').executeTakeFirstOrThrow()
  await handle.db.insertInto('org_roles').values(['member', 'admin'].map((r) => ({ org_id: org.id, slug: r, name: r }))).execute()
  await seedMembers(handle.db, org.id, size)
  await sql`insert into audit_events (org_id, actor_id, actor_kind, action, target_type, target_id, request_id, metadata, created_at)
    select ${org.id}::uuid, gen_random_uuid()::text, 'user', 'member.updated', 'membership', gen_random_uuid()::text,
           gen_random_uuid()::text, jsonb_build_object('fields', jsonb_build_array('role', 'status'), 'n', i),
           now() - make_interval(secs => i)
    from generate_series(1, ${size}::int) as i`.execute(handle.db)
  await sql`analyze`.execute(handle.db)
  return org.id
}

const SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789'
const benchConfig = loadConfig({ JWT_SECRET: SECRET, NODE_ENV: 'test' })
const token = mintToken(resolveJwtKeys(benchConfig), benchConfig, { sub: 'bench-admin', permissions: ['user:read', 'org:read', 'audit:read'] })

const orgs = new Map<number, string>()
for (const size of sizes) orgs.set(size, await seededOrg(size))

interface Row {
  entity: string,
  size: number,
  rows: number,
  format: string,
  exportS: number,
  ttfbS: number,
  mb: number,
  copyS: number,
  ratio: number,
  idleMb: number,
  peakMb: number
}
const results: Row[] = []
for (const entity of args.entities.split(',') as AdminExportEntity[]) {
  for (const size of sizes) {
    const orgId = orgs.get(size)!
    const limit = entity === 'audit' ? AUDIT_EXPORT_MAX_ROWS : 1_000_000_000
    const copySql = inlineParameters(adminExportQuery(handle.db, entity, { orgId }, limit).compile())
    const copyTimes: number[] = []
    for (let i = 0; i < rounds; i++) copyTimes.push((await psqlCopy(url, copySql)).seconds)
    const copyS = median(copyTimes)
    for (const format of formats) {
      // A fresh server per measurement, so one export's heap does not count against the next.
      // Peak RSS is VmHWM: "before" after a warm-up request, "peak" after the export rounds.
      const server = await startServer({ DATABASE_URL: url, JWT_SECRET: SECRET, RATE_LIMIT_MAX: '1000000' })
      const address = `http://127.0.0.1:${server.port}`
      const runs = []
      let idleMb = 0
      let peakMb = 0
      try {
        await curlDownload(`${address}/api/admin/export/organizations?format=${format}`, token)
        idleMb = await serverPeakRss(server)
        for (let i = 0; i < rounds; i++) {
          runs.push(await curlDownload(`${address}/api/admin/export/${entity}?organizationId=${orgId}&format=${format}`, token))
        }
        peakMb = await serverPeakRss(server)
      } finally {
        await server.stop()
      }
      const exportS = median(runs.map((r) => r.seconds))
      const row: Row = {
        entity,
        size,
        rows: Math.min(size, limit),
        format,
        exportS,
        ttfbS: median(runs.map((r) => r.ttfb)),
        mb: runs[0]!.bytes / 1e6,
        copyS,
        ratio: copyS / exportS,
        idleMb,
        peakMb
      }
      results.push(row)
      console.error(`${entity} ${size} ${format}: ${exportS.toFixed(2)} s vs \\copy ${copyS.toFixed(2)} s, ratio ${row.ratio.toFixed(2)}, RSS ${idleMb.toFixed(0)} -> ${peakMb.toFixed(0)} MB`)
    }
  }
}
await handle.close()

console.log(`\nAdmin export over HTTP vs psql \\copy of the same query (median of ${rounds}; EXPORT_PAGE_SIZE default)\n`)
console.log('| export | rows in org | rows written | format | export s | first byte s | MB | \\copy s | ratio (\\copy ÷ export) | peak RSS before MB | peak RSS after MB |')
console.log('|---|---|---|---|---|---|---|---|---|---|---|')
for (const r of results) {
  console.log(`| ${r.entity} | ${r.size.toLocaleString('en')} | ${r.rows.toLocaleString('en')} | ${r.format} | ${r.exportS.toFixed(2)} | ${r.ttfbS.toFixed(3)} | ${r.mb.toFixed(1)} | ${r.copyS.toFixed(2)} | ${r.ratio.toFixed(2)} | ${r.idleMb.toFixed(0)} | ${r.peakMb.toFixed(0)} |`)
}
