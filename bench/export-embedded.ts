// The member export on the embedded database (PGlite) beside the same export on PostgreSQL, in
// the same run: `npm start` as a child process on each, one org of BENCH_EMBEDDED_SIZE members
// seeded once into each (`npm run seed`, kept between runs), rounds alternating the two. Prints
// rows/s, the embedded ÷ PostgreSQL ratio (median of the rounds' ratios), each server's peak RSS,
// and the CPU each export took (the server process; on PostgreSQL plus its backends, read from
// /proc), which a busy machine shifts far less than wall time. Run by `npm run bench:export`
// after its PostgreSQL part, or alone: `npx tsx bench/export-embedded.ts`.
//   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/orgroster_bench),
//   BENCH_DATA_DIR (default bench/.data-embedded), BENCH_EMBEDDED_SIZE (100000), BENCH_ROUNDS (3)
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import pg from 'pg'
import { loadConfig } from '../src/config.ts'
import { resolveJwtKeys } from '../src/lib/jwt-keys.ts'
import { mintToken, DEV_ADMIN } from '../src/lib/dev-token.ts'
import { createDatabaseOf, median } from './lib/harness.ts'
import { serverPeakRss, startServer, type Server } from './server-process.ts'

const url = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/orgroster_bench'
const dataDir = process.env.BENCH_DATA_DIR ?? 'bench/.data-embedded'
const size = Number(process.env.BENCH_EMBEDDED_SIZE ?? 100_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789'
const slug = `bench-export-${size}`

const databases = {
  postgres: { DATABASE_URL: url },
  embedded: { DATABASE_URL: '', DATA_DIR: dataDir }
}

/** Seeds the org into a database until it has `size` members (and its owner). */
function ensureOrg (env: Record<string, string>, members: () => Promise<number>): Promise<void> {
  return members().then((n) => {
    if (n >= size + 1) return
    console.log(`seeding ${slug} with ${(size + 1 - n).toLocaleString('en')} members into ${env.DATABASE_URL || env.DATA_DIR} ...`)
    const seeded = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/seed.ts', '--org', slug, '--members', String(size + 1 - n)], { env: { ...process.env, ...env }, stdio: 'inherit' })
    if (seeded.status !== 0) throw new Error('seeding failed')
  })
}

async function postgresMembers (): Promise<number> {
  await createDatabaseOf(url)
  const db = new pg.Client({ connectionString: url })
  await db.connect()
  try {
    const { rows } = await db.query<{ n: number }>('select count(m.*)::int as n from organizations o join org_memberships m on m.org_id = o.id where o.slug = $1', [slug])
    return rows[0]?.n ?? 0
  } catch {
    return 0 // not migrated yet: the seed migrates
  } finally {
    await db.end()
  }
}

/** Members of the org in the embedded database, read by a server on it (one process may open the data directory at a time). */
async function embeddedMembers (): Promise<number> {
  const server = await startServer({ ...databases.embedded, JWT_SECRET: SECRET })
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/v2/orgs/${slug}/members?limit=1`, { headers: { authorization: `Bearer ${token}` } })
    return res.ok ? ((await res.json()) as { total: number }).total : 0
  } finally {
    await server.stop()
  }
}

function cpuSeconds (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime + stime, clock ticks of 1/100 s
}

/** CPU seconds of the PostgreSQL backends serving the bench database (0 when embedded). */
async function backendCpu (kind: keyof typeof databases): Promise<number> {
  if (kind === 'embedded') return 0
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  const { rows } = await c.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()')
  await c.end()
  let total = 0
  for (const { pid } of rows) { try { total += cpuSeconds(pid) } catch {} }
  return total
}

async function exportOnce (server: Server): Promise<{ seconds: number, rows: number }> {
  const started = performance.now()
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: `/v2/orgs/${slug}/members/export`, headers: { authorization: `Bearer ${token}` } }, (res) => {
      if (res.statusCode !== 200) { reject(new Error(`export answered ${res.statusCode}`)); return }
      let lines = 0
      res.on('data', (chunk: Buffer) => { for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++ })
      res.on('end', () => resolve({ seconds: (performance.now() - started) / 1000, rows: lines - 1 }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

const config = loadConfig({ JWT_SECRET: SECRET, NODE_ENV: 'test' })
const token = mintToken(resolveJwtKeys(config), config, { ...DEV_ADMIN })
await ensureOrg(databases.postgres, postgresMembers)
await ensureOrg(databases.embedded, embeddedMembers)

interface Run { rowsPerSecond: number, rssMb: number, cpu: number, rows: number }
const runs: Record<keyof typeof databases, Run[]> = { postgres: [], embedded: [] }
for (let round = 0; round < rounds; round++) {
  for (const kind of ['postgres', 'embedded'] as const) {
    const server = await startServer({ ...databases[kind], JWT_SECRET: SECRET })
    try {
      await exportOnce(server) // warm: the embedded database reads its pages into its cache
      const cpu0 = cpuSeconds(server.child.pid!) + await backendCpu(kind)
      const run = await exportOnce(server)
      const cpu = cpuSeconds(server.child.pid!) + await backendCpu(kind) - cpu0
      runs[kind].push({ rowsPerSecond: run.rows / run.seconds, rssMb: await serverPeakRss(server), cpu, rows: run.rows })
      console.log(`round ${round + 1}, ${kind}: ${run.rows.toLocaleString('en')} rows in ${run.seconds.toFixed(2)} s, CPU ${cpu.toFixed(2)} s, server peak RSS ${runs[kind].at(-1)!.rssMb.toFixed(0)} MB`)
    } finally {
      await server.stop()
    }
  }
}
const ratios = runs.embedded.map((e, i) => e.rowsPerSecond / runs.postgres[i]!.rowsPerSecond)
const cpuRatios = runs.embedded.map((e, i) => runs.postgres[i]!.cpu / e.cpu)
console.log(`\nmember export of ${size.toLocaleString('en')} members, \`npm start\` on each database (median of ${rounds} rounds; ratio: median of the rounds' ratios; RSS: max)\n`)
console.log('| database | rows/s | export CPU s (server + database) | server peak RSS MB | ÷ PostgreSQL rows/s | ÷ PostgreSQL, by CPU |')
console.log('|---|---|---|---|---|---|')
for (const kind of ['postgres', 'embedded'] as const) {
  const r = runs[kind]
  console.log(`| ${kind} | ${Math.round(median(r.map((x) => x.rowsPerSecond))).toLocaleString('en')} | ${median(r.map((x) => x.cpu)).toFixed(2)} | ${Math.max(...r.map((x) => x.rssMb)).toFixed(0)} | ` +
    `${kind === 'embedded' ? median(ratios).toFixed(2) : '1'} | ${kind === 'embedded' ? median(cpuRatios).toFixed(2) : '1'} |`)
}
