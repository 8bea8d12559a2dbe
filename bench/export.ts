// npm run bench:export: the member export over HTTP on loopback against PostgreSQL's own COPY of
// the same rows, for orgs of 100,000 and 1,000,000 members (seeded once by `npm run seed`).
// For each round the server runs as a fresh child process: the one `npm start` runs (`node
// dist/src/server.js` after `npm run build`), default settings. Its RSS is read once it answers,
// and again once idle (V8 gives back its start-up heap about 30 s after start, see settledRss);
// then the kernel's high-water mark (VmHWM) is reset, so the peak read after the export (rather
// than sampled) is the export's. Prints rows/s, time to first byte, total seconds, the three RSS
// figures, the `psql \copy` time of the export's own statement and the ratio orgroster/COPY
// (throughput): with the export's planner settings (EXPORT_PLANNER_SETTINGS), the reference, and
// with PostgreSQL's defaults.
//   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/orgroster_bench; created if
//   missing, kept between runs), BENCH_ROUNDS (3), BENCH_SIZES (100000,1000000),
//   BENCH_PROFILE=1 (the server writes a CPU profile of the last export under bench/profiles/);
//   then bench/export-embedded.ts: the export on the embedded database beside PostgreSQL
import { spawnSync } from 'node:child_process'
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { Kysely, PostgresDialect } from 'kysely'
import { MEMBER_EXPORT_COLUMNS, memberCsvQuery } from '../src/db/member-export.ts'
import { EXPORT_PLANNER_SETTINGS, withLiterals } from '../src/db/export-session.ts'
import { connectDatabase } from '../src/db/connect.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { loadConfig } from '../src/config.ts'
import { resolveJwtKeys } from '../src/lib/jwt-keys.ts'
import { mintToken, DEV_ADMIN } from '../src/lib/dev-token.ts'
import { buildServer, resetPeakRss, serverPeakRss, serverRss, settledRss, startServer, type Server } from './server-process.ts'
import { createDatabaseOf, median } from './lib/harness.ts'

const url = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/orgroster_bench'
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const sizes = (process.env.BENCH_SIZES ?? '100000,1000000').split(',').map(Number)
const SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789'

async function ensureDatabase (): Promise<void> {
  await createDatabaseOf(url)
  // A new database has no tables yet: the org lookup below runs before any seeding would migrate.
  const handle = await connectDatabase({ databaseUrl: url, dataDir: '', poolMax: 1, statementTimeoutMs: 600_000 })
  await migrateToLatest(handle.db)
  await handle.close()
}

/** The org of `size` members, seeded by the tool on first use. */
async function ensureOrg (client: pg.Client, size: number): Promise<{ id: string, slug: string }> {
  const name = `bench-export-${size}`
  const count = async () => (await client.query<{ id: string, n: number }>(
    'select o.id, count(m.*)::int as n from organizations o left join org_memberships m on m.org_id = o.id where o.slug = $1 group by o.id', [name])).rows[0]
  let row = await count()
  if (row === undefined || row.n < size) {
    const missing = size + 1 - (row?.n ?? 0) // the owner is the +1
    console.log(`seeding ${name} with ${missing.toLocaleString('en')} members (npm run seed) ...`)
    const seeded = spawnSync('npm', ['run', 'seed', '--', '--org', name, '--members', String(missing)],
      { env: { ...process.env, DATABASE_URL: url }, stdio: 'inherit' })
    if (seeded.status !== 0) throw new Error('seeding failed')
    row = await count()
  }
  return { id: row!.id, slug: name }
}

interface HttpRun { seconds: number, ttfbMs: number, bytes: number, lines: number }

async function exportOverHttp (server: Server, slug: string, token: string): Promise<HttpRun> {
  const started = performance.now()
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: `/v2/orgs/${slug}/members/export`, headers: { authorization: `Bearer ${token}` } }, (res) => {
      if (res.statusCode !== 200) { reject(new Error(`export answered ${res.statusCode}`)); return }
      let ttfbMs = -1
      let bytes = 0
      let lines = 0
      res.on('data', (chunk: Buffer) => {
        if (ttfbMs < 0) ttfbMs = performance.now() - started
        bytes += chunk.length
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++
      })
      res.on('end', () => resolve({ seconds: (performance.now() - started) / 1000, ttfbMs, bytes, lines }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/**
 * The same rows through psql's \copy, which is PostgreSQL's COPY streamed to the client: the
 * export's own statement, with the export's planner settings or with PostgreSQL's defaults.
 */
function copyReference (orgId: string, settings: 'export' | 'defaults'): { seconds: number, bytes: number } {
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ max: 1 }) }) })
  const inlined = withLiterals(memberCsvQuery(db, orgId, {}, MEMBER_EXPORT_COLUMNS, { after: null, limit: null }).compile()).replace(/\s+/g, ' ')
  const set = settings === 'export' ? ['-c', Object.entries(EXPORT_PLANNER_SETTINGS).map(([name, value]) => `set ${name} = ${value};`).join(' ')] : []
  const started = performance.now()
  const out = spawnSync('psql', [url, '-X', '-q', ...set, '-c', `\\copy (${inlined}) TO STDOUT WITH CSV HEADER`], { maxBuffer: 2 ** 31 - 1 })
  if (out.status !== 0) throw new Error(`psql failed: ${out.stderr.toString()}`)
  return { seconds: (performance.now() - started) / 1000, bytes: out.stdout.length }
}

buildServer()
await ensureDatabase()
const client = new pg.Client({ connectionString: url })
await client.connect()
const config = loadConfig({ JWT_SECRET: SECRET, NODE_ENV: 'test' })
const token = mintToken(resolveJwtKeys(config), config, { ...DEV_ADMIN })
const results: string[] = []
try {
  for (const size of sizes) {
    const org = await ensureOrg(client, size)
    const runs: Array<HttpRun & { rssMb: number, idleMb: number, startedMb: number, copy: number, copyDefaults: number }> = []
    for (let round = 0; round < rounds; round++) {
      const profile = process.env.BENCH_PROFILE === '1' && round === rounds - 1 && size === sizes[sizes.length - 1]
      const server = await startServer({ DATABASE_URL: url, JWT_SECRET: SECRET }, profile)
      try {
        // Idle: the server answering /healthz, and then settled (see settledRss); the peak is
        // the export's own, from the settled RSS on (the start-up plateau is not the export's).
        const startedMb = await serverRss(server)
        const idleMb = await settledRss(server, Number(process.env.BENCH_SETTLE_MS ?? 60000))
        await resetPeakRss(server)
        const run = await exportOverHttp(server, org.slug, token)
        const rssMb = await serverPeakRss(server)
        // The reference right after, in the same conditions: each round is a pair.
        runs.push({ ...run, rssMb, idleMb, startedMb, copy: copyReference(org.id, 'export').seconds, copyDefaults: copyReference(org.id, 'defaults').seconds })
      } finally {
        await server.stop()
      }
      const last = runs[runs.length - 1]!
      console.log(`${size.toLocaleString('en')} members, round ${round + 1}: export ${last.seconds.toFixed(2)} s (TTFB ${last.ttfbMs.toFixed(0)} ms, ` +
        `${(last.bytes / 1e6).toFixed(0)} MB, ${last.lines - 1} rows, server RSS ${last.startedMb.toFixed(0)} MB once started, idle ${last.idleMb.toFixed(0)} MB, peak RSS during the export ${last.rssMb.toFixed(0)} MB); \\copy ${last.copy.toFixed(2)} s, with PostgreSQL's default settings ${last.copyDefaults.toFixed(2)} s`)
    }
    const seconds = median(runs.map((r) => r.seconds))
    const copy = median(runs.map((r) => r.copy))
    const ratio = median(runs.map((r) => r.copy / r.seconds))
    const copyDefaults = median(runs.map((r) => r.copyDefaults))
    const ratioDefaults = median(runs.map((r) => r.copyDefaults / r.seconds))
    const rows = runs[0]!.lines - 1
    results.push(`| ${size.toLocaleString('en')} | ${Math.round(rows / seconds).toLocaleString('en')} | ${median(runs.map((r) => r.ttfbMs)).toFixed(0)} | ` +
      `${seconds.toFixed(2)} | ${median(runs.map((r) => r.startedMb)).toFixed(0)} | ${median(runs.map((r) => r.idleMb)).toFixed(0)} | ${Math.max(...runs.map((r) => r.rssMb)).toFixed(0)} | ${copy.toFixed(2)} | ${ratio.toFixed(2)} | ${copyDefaults.toFixed(2)} | ${ratioDefaults.toFixed(2)} |`)
  }
} finally {
  await client.end()
}
console.log(`\nmember export from the npm start server (node dist/, default settings) over HTTP on loopback vs psql \\copy of the same rows (median of ${rounds} rounds, each an export and a \\copy back to back; ratio: median of the rounds' ratios; RSS: max)\n`)
console.log('| members | rows/s | TTFB ms | total s | server RSS once started MB | server idle RSS MB | server peak RSS during the export MB | \\copy s | ratio (copy s / export s) | \\copy s, default settings | ratio |')
console.log('|---|---|---|---|---|---|---|---|---|---|---|')
for (const line of results) console.log(line)

// The same export on the embedded database beside PostgreSQL (BENCH_EMBEDDED=0 skips it).
if (process.env.BENCH_EMBEDDED !== '0') await import('./export-embedded.ts')
