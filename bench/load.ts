// npm run bench:load: the member list (first page with `total`, and a cursor page) and the
// one-member add under concurrent connections against a real PostgreSQL, each beside its own
// database work run without HTTP in the same process through the same pool (the reference: the
// key's lookup and the route's queries, in a loop per connection), as a ratio of throughput. The
// list also runs on a second app that logs one line per request at info to a file, to show what
// request logging costs. A bare Fastify route returning the same JSON shows the framework's
// ceiling. The client (autocannon) runs in a process of its own (bench/lib/load-client.ts).
// Rounds alternate the variants, so a loaded machine slows them alike; medians are printed.
// Beside throughput, the CPU each request costs (this process, which holds the servers and the
// reference loops, plus the PostgreSQL backends, read from /proc): a figure a busy machine
// shifts far less than req/s, and its ratio is what the throughput ratio tends to once the
// two cores are the limit.
// Then the rate limit: one hot API key is limited while another key is untouched.
//   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_SECONDS (5),
//   BENCH_ROUNDS (3), BENCH_CONNECTIONS (32; e.g. 1,8,32)
import { fork } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import pg from 'pg'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { loggerOptions } from '../src/lib/logging.ts'
import { createOrganization } from '../src/db/orgs.ts'
import { seedMembers } from '../src/db/seed.ts'
import { upsertUserFromClaims } from '../src/db/users.ts'
import { insertApiKey, verifyApiKey } from '../src/db/api-keys.ts'
import { loadOrgAccess } from '../src/db/orgs.ts'
import { countMembers, listMembersPage } from '../src/db/members.ts'
import { addMembers } from '../src/db/member-writes.ts'
import { decodeCursor, keysetRequest } from '../src/db/keyset.ts'
import { median, scratchDatabase } from './lib/harness.ts'
import type { LoadResult, LoadRun } from './lib/load-client.ts'

const base = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const seconds = Number(process.env.BENCH_SECONDS ?? 5)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const concurrencies = (process.env.BENCH_CONNECTIONS ?? '32').split(',').map(Number)
const scratch = await scratchDatabase(base, 'orgroster_bench_load')
const logDir = mkdtempSync(join(tmpdir(), 'orgroster-bench-load-'))
const logFile = join(logDir, 'requests.log')
const client = fork('bench/lib/load-client.ts', [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })

async function start (env: Record<string, string>, logToFile = false) {
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: logToFile ? 'info' : 'silent', JWT_SECRET: 'bench-secret-that-is-long-enough-0123456789', DATABASE_URL: scratch.url, ...env })
  const app = await buildApp(config, logToFile ? { logger: { ...(loggerOptions(config) as object), file: logFile } } : {})
  return { app, address: await app.listen({ port: 0, host: '127.0.0.1' }) }
}

type Measured = LoadResult & { cpuUs: number }

// CPU seconds so far of this process and of each PostgreSQL backend of the bench database.
const monitor = new pg.Client({ connectionString: scratch.url })
await monitor.connect()
async function cpuSnapshot (): Promise<{ self: number, backends: Map<number, number> }> {
  const { rows } = await monitor.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()')
  const backends = new Map<number, number>()
  for (const { pid } of rows) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      backends.set(pid, (Number(fields[11]) + Number(fields[12])) / 100) // utime + stime, in clock ticks of 1/100 s
    } catch {} // a backend that just ended
  }
  const { user, system } = process.cpuUsage()
  return { self: (user + system) / 1e6, backends }
}

/** `step` with the CPU it used per request (this process and the database), in microseconds. */
async function measured (step: () => Promise<LoadResult>): Promise<Measured> {
  const before = await cpuSnapshot()
  const result = await step()
  const after = await cpuSnapshot()
  let seconds = after.self - before.self
  for (const [pid, cpu] of after.backends) seconds += cpu - (before.backends.get(pid) ?? 0)
  return { ...result, cpuUs: (seconds * 1e6) / result.total }
}

function load (run: Omit<LoadRun, 'seconds'> & { seconds?: number }): Promise<Measured> {
  return measured(() => new Promise((resolve, reject) => {
    client.once('message', (m: { result?: LoadResult, error?: string }) => (m.result ? resolve(m.result) : reject(new Error(m.error))))
    client.send({ seconds, ...run })
  }))
}

/** `work` in a loop on each of `connections` concurrent callers for the step's duration. */
async function loop (connections: number, work: () => Promise<unknown>): Promise<Measured> {
  return await measured(() => loopOnce(connections, work))
}

async function loopOnce (connections: number, work: () => Promise<unknown>): Promise<LoadResult> {
  const latencies: number[] = []
  const end = performance.now() + seconds * 1000
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < end) {
      const started = performance.now()
      await work()
      latencies.push(performance.now() - started)
    }
  }))
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN
  return { rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99), non2xx: 0, errors: 0, total: latencies.length }
}

const { app, address } = await start({ RATE_LIMIT_MAX: '1000000' })
const logged = await start({ RATE_LIMIT_MAX: '1000000' }, true)
try {
  const owner = await upsertUserFromClaims(app.db, { sub: 'bench-owner', email: 'bench-owner@example.com' })
  const org = await createOrganization(app.db, owner.id, { slug: 'bench', name: 'Bench' }, { actorId: null, actorKind: 'system', requestId: null })
  await seedMembers(app.db, org.id, 10_000)
  const key = await insertApiKey(app.db, { orgId: org.id, orgSlug: 'bench', slug: 'load', name: 'load', permissions: ['orgs:read', 'orgs:members:read', 'orgs:members:manage'] })
  const headers = { 'x-api-key': key.raw, 'content-type': 'application/json' }
  const listPath = '/v2/orgs/bench/members?limit=20'
  const sample = await app.inject({ method: 'GET', url: listPath, headers })
  const body = sample.body
  const cursor = sample.json().nextCursor as string
  const cursorPath = `${listPath}&cursor=${encodeURIComponent(cursor)}`
  const after = decodeCursor(`members:${org.id}`, 'newest', cursor)

  const bare = Fastify({ logger: false })
  bare.get('/members', async (_request, reply) => reply.type('application/json').send(body))
  const bareAddress = await bare.listen({ port: 0, host: '127.0.0.1' })

  // The key holds orgs:read too: the privilege ceiling lets it give only roles it covers (member).
  // The route's database work as the handler does it: the key (with its org), the org check,
  // then the page (and on the first page the total, in parallel).
  async function keyAndOrg () {
    const check = await verifyApiKey(app.db, key.raw)
    if (!check.ok) throw new Error(check.reason)
    const principal = { kind: 'apiKey' as const, keyId: check.key.id, org: check.org, permissions: check.key.permissions }
    await loadOrgAccess(app.db, principal, { slug: 'bench' })
    return check
  }
  const firstPageWork = async () => {
    await keyAndOrg()
    await Promise.all([listMembersPage(app.db, org.id, {}, keysetRequest(20, null)), countMembers(app.db, org.id, {})])
  }
  const cursorPageWork = async () => {
    await keyAndOrg()
    await listMembersPage(app.db, org.id, {}, keysetRequest(20, after))
  }
  let added = 0
  const addWork = async () => {
    const check = await keyAndOrg()
    await addMembers(app.db, check.org, [{ email: `direct-${process.pid}-${added++}@example.com` }], { skipExisting: true, invitedBy: null, inviteTtlHours: 168, held: check.key.permissions },
      { actorId: check.key.id, actorKind: 'apiKey', requestId: 'bench' })
  }

  console.log(`list page: ${body.length} bytes, 10,000 members; ${seconds} s per step, ${rounds} rounds, medians; client in its own process\n`)
  const rows: string[] = []
  let loggedRequests = 0
  for (const connections of concurrencies) {
    const runs = new Map<string, Measured[]>()
    const keep = (name: string, r: Measured) => { runs.set(name, [...(runs.get(name) ?? []), r]) }
    for (let round = 0; round < rounds; round++) {
      keep('bare', await load({ url: `${bareAddress}/members`, connections, headers: {} }))
      keep('first-ref', await loop(connections, firstPageWork))
      keep('first', await load({ url: `${address}${listPath}`, connections, headers }))
      const firstLogged = await load({ url: `${logged.address}${listPath}`, connections, headers })
      keep('first-logged', firstLogged)
      keep('cursor-ref', await loop(connections, cursorPageWork))
      keep('cursor', await load({ url: `${address}${cursorPath}`, connections, headers }))
      const cursorLogged = await load({ url: `${logged.address}${cursorPath}`, connections, headers })
      keep('cursor-logged', cursorLogged)
      keep('add-ref', await loop(connections, addWork))
      keep('add', await load({ url: `${address}/v2/orgs/bench/members`, connections, method: 'POST', headers, addPrefix: `load-${process.pid}-${connections}-${round}` }))
      loggedRequests += firstLogged.total + cursorLogged.total
    }
    const med = (name: string) => {
      const rs = runs.get(name)!
      return { rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), cpuUs: median(rs.map((r) => r.cpuUs)), bad: rs.reduce((n, r) => n + r.non2xx + r.errors, 0) }
    }
    // The ratio of each round's pair, then their median (a pair ran back to back).
    const ratio = (name: string, ref: string, of: (r: Measured) => number) => median(runs.get(name)!.map((r, i) => of(r) / of(runs.get(ref)![i]!))).toFixed(2)
    const row = (label: string, name: string, ref: string | null, refLabel: string) => {
      const m = med(name)
      const ratios = ref === null ? ' | ' : `${ratio(name, ref, (r) => r.rps)} | ${ratio(name, ref, (r) => 1 / r.cpuUs)}`
      rows.push(`| ${label} | ${connections} | ${m.rps.toFixed(0)} | ${m.p50.toFixed(1)} | ${m.p99.toFixed(1)} | ${m.bad} | ${m.cpuUs.toFixed(0)} | ${refLabel} | ${ratios} |`)
    }
    row('bare Fastify, the same JSON', 'bare', null, '')
    row('first page + total: its queries alone, no HTTP', 'first-ref', null, '')
    row('GET list, first page + total', 'first', 'first-ref', 'its queries alone')
    row('GET list, first page + total, one info line per request', 'first-logged', 'first', 'the same, unlogged')
    row('cursor page: its queries alone, no HTTP', 'cursor-ref', null, '')
    row('GET list, cursor page', 'cursor', 'cursor-ref', 'its queries alone')
    row('GET list, cursor page, one info line per request', 'cursor-logged', 'cursor', 'the same, unlogged')
    row('add one member: its queries alone, no HTTP', 'add-ref', null, '')
    row('POST add one member', 'add', 'add-ref', 'its queries alone')
  }
  console.log('| work | connections | req/s | p50 ms | p99 ms | non-2xx + errors | CPU µs/request (node + PostgreSQL) | reference | ÷ reference: req/s | ÷ reference: requests per CPU s |')
  console.log('|---|---|---|---|---|---|---|---|---|---|')
  for (const line of rows) console.log(line)
  const lines = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"msg":"request"')).length
  console.log(`\nthe logged app wrote ${lines.toLocaleString('en')} request lines for ${loggedRequests.toLocaleString('en')} requests counted by the client`)
  await bare.close()

  // Rate limit: a hot key hammers, a quiet key makes a few requests in the same window.
  const limited = await start({ RATE_LIMIT_MAX: '20', RATE_LIMIT_WINDOW_MS: '60000' })
  const quiet = await insertApiKey(app.db, { orgId: org.id, orgSlug: 'bench', slug: 'quiet', name: 'quiet', permissions: ['orgs:members:read'] })
  const hot = await load({ url: `${limited.address}${listPath}`, connections: 16, headers, seconds: 2 })
  const statuses: number[] = []
  for (let i = 0; i < 5; i++) statuses.push((await limited.app.inject({ method: 'GET', url: listPath, headers: { 'x-api-key': quiet.raw } })).statusCode)
  console.log(`\nrate limit 20/min: hot key ${hot.total - hot.non2xx} answered, ${hot.non2xx} limited (429); quiet key: ${statuses.join(', ')}`)
  await limited.app.close()
} finally {
  client.kill()
  await monitor.end()
  await app.close()
  await logged.app.close()
  await scratch.drop()
  rmSync(logDir, { recursive: true, force: true })
}
