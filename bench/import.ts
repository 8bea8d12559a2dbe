// npm run bench:import: the member CSV import over HTTP on loopback against PostgreSQL's own
// COPY of the same file into a staging table (`psql \copy … FROM`), for the 100,000-member file
// `bench:export` writes (its org seeded once by `npm run seed`). Each round imports into a new
// org on a fresh server process (peak RSS from /proc: VmHWM), then runs the \copy right after.
// A second reference is the schema's own floor: the same rows written set-based by SQL alone
// (memberships, group memberships and an event for each of them, from that staging table, in one
// transaction rolled back), which is what any import into these tables costs at least.
// A last run imports a 50 MiB file (that export's lines repeated: the repeats fail as the same
// user) to show the memory stays flat as the file grows.
//   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/orgroster_bench; created if
//   missing, kept between runs), BENCH_ROUNDS (3), BENCH_MEMBERS (100000)
import { spawnSync } from 'node:child_process'
import { createReadStream, createWriteStream, mkdirSync, readFileSync, statSync } from 'node:fs'
import { once } from 'node:events'
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { loadConfig } from '../src/config.ts'
import { connectDatabase } from '../src/db/connect.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { resolveJwtKeys } from '../src/lib/jwt-keys.ts'
import { DEV_ADMIN, mintToken } from '../src/lib/dev-token.ts'
import { benchDatabase, median } from './lib/harness.ts'
import { serverPeakRss, startServer, type Server } from './server-process.ts'

const base = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const url = process.env.BENCH_DATABASE_URL ?? await benchDatabase(base, 'orgroster_bench')
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const size = Number(process.env.BENCH_MEMBERS ?? 100_000)
const SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789'
const source = `bench-export-${size}`
const file = `bench/.build/import-${size}.csv`
const bigFile = 'bench/.build/import-50mib.csv'

const config = loadConfig({ JWT_SECRET: SECRET, NODE_ENV: 'test' })
const token = mintToken(resolveJwtKeys(config), config, { ...DEV_ADMIN })
const auth = { authorization: `Bearer ${token}` }

async function request (server: Server, method: string, path: string, body?: string | (() => NodeJS.ReadableStream), headers: Record<string, string> = {}): Promise<{ status: number, text: string, seconds: number }> {
  const started = performance.now()
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path, headers: { ...auth, ...headers } }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => { text += d }).on('end', () => resolve({ status: res.statusCode!, text, seconds: (performance.now() - started) / 1000 }))
    })
    req.on('error', reject)
    if (typeof body === 'function') body().pipe(req)
    else req.end(body)
  })
}

/** The source org (seeded on first use) and its export in `file`. */
async function prepare (client: pg.Client, server: Server): Promise<void> {
  const count = async (): Promise<number> => (await client.query<{ n: number }>(
    'select count(m.*)::int as n from organizations o join org_memberships m on m.org_id = o.id where o.slug = $1', [source])).rows[0]?.n ?? 0
  const have = await count()
  if (have < size + 1) {
    console.log(`seeding ${source} with ${(size + 1 - have).toLocaleString('en')} members (npm run seed) ...`)
    const seeded = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/seed.ts', '--org', source, '--members', String(size + 1 - have)], { env: { ...process.env, DATABASE_URL: url }, stdio: 'inherit' })
    if (seeded.status !== 0) throw new Error('seeding failed')
  }
  mkdirSync('bench/.build', { recursive: true })
  const out = createWriteStream(file)
  await new Promise<void>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: `/v2/orgs/${source}/members/export`, headers: auth }, (res) => {
      res.pipe(out)
      out.on('finish', resolve)
    })
    req.on('error', reject)
    req.end()
  })
  // The 50 MiB file: the export's data lines again and again after it, cut at a line end.
  const text = readFileSync(file)
  const lines = text.subarray(text.indexOf(10) + 1)
  const limit = 50 * 1024 * 1024
  const big = createWriteStream(bigFile)
  let written = 0
  for (let part: Buffer = text; written < limit; part = lines) {
    const room = limit - written
    const piece = part.length <= room ? part : part.subarray(0, part.lastIndexOf(10, room - 1) + 1)
    if (piece.length === 0) break
    if (!big.write(piece)) await once(big, 'drain')
    written += piece.length
  }
  big.end()
  await once(big, 'finish')
}

const psql = (...commands: string[]): void => {
  const out = spawnSync('psql', [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', ...commands.flatMap((c) => ['-c', c])])
  if (out.status !== 0) throw new Error(`psql failed: ${out.stderr.toString()}`)
}
const timed = (run: () => void): number => { const started = performance.now(); run(); return (performance.now() - started) / 1000 }

/** psql's \copy of the file into a staging table of text columns named by its header. */
function copyReference (): number {
  const header = readFileSync(file, 'utf8').split('\n', 1)[0]!.trim().split(',')
  const columns = header.map((c) => `"${c}" text`).join(', ')
  return timed(() => psql(`drop table if exists bench_import_staging; create unlogged table bench_import_staging (${columns})`,
    `\\copy bench_import_staging FROM '${file}' WITH (FORMAT csv, HEADER true)`))
}

/** The staged rows written into org `slug` by SQL alone, as the import writes them, rolled back. */
function sqlFloor (slug: string): number {
  const org = `(select id from organizations where slug = '${slug}')`
  return timed(() => psql(`begin;
    insert into org_memberships (org_id, user_id, role_slug, status, joined_at, joined_via)
      select ${org}, s."userId"::uuid, s."roleSlug", s.status, now(), 'direct' from bench_import_staging s on conflict do nothing;
    insert into org_groups (org_id, slug, name)
      select distinct ${org}, g, g from bench_import_staging s, unnest(string_to_array(s.groups, ';')) g on conflict do nothing;
    insert into org_group_members (group_id, org_id, user_id)
      select g.id, g.org_id, s."userId"::uuid from bench_import_staging s, unnest(string_to_array(s.groups, ';')) gs
      join org_groups g on g.org_id = ${org} and g.slug = gs on conflict do nothing;
    insert into org_events (org_id, org_slug, seq, type, actor_type, actor_id, data)
      select m.org_id, '${slug}', 1000000 + row_number() over (), 'membership.created', 'user', null, to_jsonb(m)
      from org_memberships m where m.org_id = ${org};
    insert into org_events (org_id, org_slug, seq, type, actor_type, actor_id, data)
      select gm.org_id, '${slug}', 3000000 + row_number() over (), 'group_membership.added', 'user', null,
        jsonb_build_object('orgSlug', '${slug}', 'groupSlug', g.slug, 'userId', gm.user_id)
      from org_group_members gm join org_groups g on g.id = gm.group_id where gm.org_id = ${org};
    rollback`))
}

async function importInto (server: Server, path: string, slug: string): Promise<{ seconds: number, created: number, failedCount: number }> {
  const org = await request(server, 'POST', '/v2/orgs', JSON.stringify({ name: slug, slug }), { 'content-type': 'application/json' })
  if (org.status !== 201) throw new Error(`org: ${org.status} ${org.text}`)
  const res = await request(server, 'POST', `/v2/orgs/${slug}/members/import`, () => createReadStream(path), { 'content-type': 'text/csv', 'content-length': String(statSync(path).size) })
  if (res.status !== 200) throw new Error(`import: ${res.status} ${res.text.slice(0, 500)}`)
  const body = JSON.parse(res.text) as { created: number, failedCount: number }
  return { seconds: res.seconds, created: body.created, failedCount: body.failedCount }
}

/** This run's orgs and their events, removed after each round so every round (and every run) starts from the same database. */
async function dropOrgs (client: pg.Client, stamp: string): Promise<void> {
  const pattern = `bench-%-${stamp}-%`
  await client.query('delete from organizations where slug like $1', [pattern])
  await client.query('delete from org_events where org_slug like $1', [pattern])
  await client.query('vacuum analyze')
}

const handle = await connectDatabase({ databaseUrl: url, dataDir: '', poolMax: 1, statementTimeoutMs: 600_000 })
await migrateToLatest(handle.db)
await handle.close()
const client = new pg.Client({ connectionString: url })
await client.connect()
const env = { DATABASE_URL: url, JWT_SECRET: SECRET, RATE_LIMIT_MAX: '1000000' }
const runs: Array<{ seconds: number, copy: number, floor: number, rssMb: number }> = []
let big: { seconds: number, rssMb: number, bytes: number } | undefined
try {
  const first = await startServer(env)
  try { await prepare(client, first) } finally { await first.stop() }
  const stamp = Date.now().toString(36)
  for (let round = 0; round < rounds; round++) {
    const server = await startServer(env)
    try {
      const floorSlug = `bench-floor-${stamp}-${round}`
      const floorOrg = await request(server, 'POST', '/v2/orgs', JSON.stringify({ name: floorSlug, slug: floorSlug }), { 'content-type': 'application/json' })
      if (floorOrg.status !== 201) throw new Error(`org: ${floorOrg.status} ${floorOrg.text}`)
      const run = await importInto(server, file, `bench-import-${stamp}-${round}`)
      if (run.created !== size + 1) throw new Error(`created ${run.created}, expected ${size + 1}`)
      const rssMb = await serverPeakRss(server)
      const copy = copyReference()
      runs.push({ seconds: run.seconds, rssMb, copy, floor: sqlFloor(floorSlug) })
      const last = runs[runs.length - 1]!
      console.log(`round ${round + 1}: import ${last.seconds.toFixed(2)} s (${Math.round(run.created / last.seconds).toLocaleString('en')} rows/s, peak RSS ${rssMb.toFixed(0)} MB); \\copy ${last.copy.toFixed(2)} s; SQL floor ${last.floor.toFixed(2)} s`)
    } finally {
      await server.stop()
      await dropOrgs(client, stamp)
    }
  }
  const server = await startServer(env)
  try {
    const run = await importInto(server, bigFile, `bench-import-${stamp}-big`)
    big = { seconds: run.seconds, rssMb: await serverPeakRss(server), bytes: statSync(bigFile).size }
    console.log(`50 MiB file: ${run.created} created, ${run.failedCount} failed (repeats) in ${run.seconds.toFixed(2)} s, peak RSS ${big.rssMb.toFixed(0)} MB`)
  } finally {
    await server.stop()
    await dropOrgs(client, stamp)
  }
} finally {
  await client.end()
}
const seconds = median(runs.map((r) => r.seconds))
console.log(`\nmember import over HTTP on loopback vs psql \\copy of the same file into a staging table, and vs the same rows written by SQL alone from that table (median of ${rounds} rounds; ratios: median of the rounds' reference s / import s)\n`)
console.log('| members | import s | rows/s | server peak RSS MB | \\copy s | ratio to \\copy | SQL floor s | ratio to floor | 50 MiB file: s, peak RSS MB |')
console.log('|---|---|---|---|---|---|---|---|---|')
console.log(`| ${(size + 1).toLocaleString('en')} | ${seconds.toFixed(2)} | ${Math.round((size + 1) / seconds).toLocaleString('en')} | ${Math.max(...runs.map((r) => r.rssMb)).toFixed(0)} | ` +
  `${median(runs.map((r) => r.copy)).toFixed(2)} | ${median(runs.map((r) => r.copy / r.seconds)).toFixed(3)} | ` +
  `${median(runs.map((r) => r.floor)).toFixed(2)} | ${median(runs.map((r) => r.floor / r.seconds)).toFixed(2)} | ${big!.seconds.toFixed(1)}, ${big!.rssMb.toFixed(0)} |`)
