// npm run bench:load: list-members and add-members under rising concurrency against a real
// PostgreSQL, beside a bare Fastify route that returns a fixed JSON body of the same size (the
// framework's ceiling on this machine), as a ratio. Then the rate limit: one hot API key is
// limited while another key is untouched. Bounded: a few seconds per step, loopback only.
//   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_SECONDS (5)
import autocannon from 'autocannon'
import Fastify from 'fastify'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { createOrganization } from '../src/db/orgs.ts'
import { seedMembers } from '../src/db/seed.ts'
import { upsertUserFromClaims } from '../src/db/users.ts'
import { insertApiKey, verifyApiKey } from '../src/db/api-keys.ts'
import { loadOrgAccess } from '../src/db/orgs.ts'
import { countMembers, listMembersPage } from '../src/db/members.ts'
import { keysetRequest } from '../src/db/keyset.ts'
import { scratchDatabase } from './lib/harness.ts'

const base = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const seconds = Number(process.env.BENCH_SECONDS ?? 5)
const scratch = await scratchDatabase(base, 'orgroster_bench_load')
const url = scratch.url

async function start (env: Record<string, string>) {
  const app = await buildApp(loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', JWT_SECRET: 'bench-secret-that-is-long-enough-0123456789', DATABASE_URL: url, DB_POOL_MAX: '20', ...env }))
  return { app, address: await app.listen({ port: 0, host: '127.0.0.1' }) }
}

function run (opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => { autocannon({ duration: seconds, ...opts }, (err, result) => (err ? reject(err) : resolve(result))) })
}

const { app, address } = await start({ RATE_LIMIT_MAX: '1000000' })
try {
  const owner = await upsertUserFromClaims(app.db, { sub: 'bench-owner', email: 'bench-owner@example.com' })
  const org = await createOrganization(app.db, owner.id, { slug: 'bench', name: 'Bench' }, { actorId: null, actorKind: 'system', requestId: null })
  await seedMembers(app.db, org.id, 10_000)
  const key = await insertApiKey(app.db, { orgId: org.id, orgSlug: 'bench', slug: 'load', name: 'load', permissions: ['orgs:members:read', 'orgs:members:manage'] })
  const headers = { 'x-api-key': key.raw, 'content-type': 'application/json' }
  const listPath = '/v2/orgs/bench/members?limit=20'
  const sample = await app.inject({ method: 'GET', url: listPath, headers })
  const body = sample.body
  const cursorPath = `${listPath}&cursor=${encodeURIComponent(sample.json().nextCursor)}`

  const bare = Fastify({ logger: false })
  bare.get('/members', async (_request, reply) => reply.type('application/json').send(body))
  const bareAddress = await bare.listen({ port: 0, host: '127.0.0.1' })

  // The first page's own queries (key with its org, page, total) through the service's pool, in a loop
  // per connection: what the database allows before HTTP and Fastify add their share.
  async function listQueriesOnly (connections: number) {
    const latencies: number[] = []
    const end = performance.now() + seconds * 1000
    await Promise.all(Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const started = performance.now()
        const check = await verifyApiKey(app.db, key.raw)
        if (!check.ok) throw new Error(check.reason)
        const principal = { kind: 'apiKey' as const, keyId: check.key.id, org: check.org, permissions: check.key.permissions }
        await loadOrgAccess(app.db, principal, { slug: 'bench' })
        await Promise.all([listMembersPage(app.db, org.id, {}, keysetRequest(20, null)), countMembers(app.db, org.id, {})])
        latencies.push(performance.now() - started)
      }
    }))
    latencies.sort((a, b) => a - b)
    const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN)
    return { requests: { average: latencies.length / seconds }, latency: { p50: at(0.5), p99: at(0.99) }, non2xx: 0 }
  }

  let n = 0
  console.log(`list page: ${body.length} bytes; ${seconds} s per step\n`)
  console.log('| route | concurrency | req/s | p50 ms | p99 ms | non-2xx | ÷ bare req/s |')
  console.log('|---|---|---|---|---|---|---|')
  for (const connections of [1, 8, 32]) {
    const ceiling = await run({ url: `${bareAddress}/members`, connections })
    const list = await run({ url: `${address}${listPath}`, connections, headers })
    const page = await run({ url: `${address}${cursorPath}`, connections, headers })
    const add = await run({
      url: `${address}/v2/orgs/bench/members`,
      connections,
      method: 'POST',
      headers,
      requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ users: [{ email: `load-${process.pid}-${n++}@example.com` }], skipExisting: true }) }) }]
    })
    const queries = await listQueriesOnly(connections)
    for (const [name, r] of [['bare Fastify, same JSON', ceiling], ['list queries alone, no HTTP', queries], ['GET list members, first page + total', list], ['GET list members, cursor page', page], ['POST add members', add]] as const) {
      console.log(`| ${name} | ${connections} | ${r.requests.average.toFixed(0)} | ${r.latency.p50} | ${r.latency.p99} | ${r.non2xx} | ${(r.requests.average / ceiling.requests.average).toFixed(2)} |`)
    }
  }
  await bare.close()

  // Rate limit: a hot key hammers, a quiet key makes a few requests in the same window.
  const limited = await start({ RATE_LIMIT_MAX: '20', RATE_LIMIT_WINDOW_MS: '60000' })
  const quiet = await insertApiKey(app.db, { orgId: org.id, orgSlug: 'bench', slug: 'quiet', name: 'quiet', permissions: ['orgs:members:read'] })
  const hot = await run({ url: `${limited.address}${listPath}`, connections: 16, headers, duration: 2 })
  const statuses: number[] = []
  for (let i = 0; i < 5; i++) statuses.push((await limited.app.inject({ method: 'GET', url: listPath, headers: { 'x-api-key': quiet.raw } })).statusCode)
  console.log(`\nrate limit 20/min: hot key ${hot['2xx']} answered, ${hot.non2xx} limited (429); quiet key: ${statuses.join(', ')}`)
  await limited.app.close()
} finally {
  await app.close()
  await scratch.drop()
}
