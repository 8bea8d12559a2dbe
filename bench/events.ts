// npm run bench:events: what events cost and how fast webhooks arrive, on a real PostgreSQL.
// A server process (bench/server-process.ts) takes bulk adds of 1,000 new people into an org
// without webhooks and into one with a subscribed endpoint (a local receiver in this process
// that verifies every signature), alternately; between rounds the receiver gets every delivery,
// so the next add runs on an idle server. Prints the adds' medians and their ratio (target
// ≤ 1.10), and for the deliveries: events/s from the add's answer to the last receipt, and
// commit-to-receipt p50/p99 (from the event's timestamp, written in the add's transaction just
// before its commit, to the receiver having the body; target p99 < 1 s).
//   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_ROUNDS (5)
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { loadConfig } from '../src/config.ts'
import { mintToken } from '../src/lib/dev-token.ts'
import { resolveJwtKeys } from '../src/lib/jwt-keys.ts'
import { median, scratchDatabase } from './lib/harness.ts'
import { startServer } from './server-process.ts'

const base = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const BATCH = 1000
const JWT_SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789'

const scratch = await scratchDatabase(base, 'orgroster_bench_events')
const config = loadConfig({ JWT_SECRET, DATABASE_URL: scratch.url })
const token = mintToken(resolveJwtKeys(config), config, { sub: 'bench-events', email: 'bench-events@example.com' })

let secret: string | null = null
let invalid = 0
const receipts: Array<{ at: number, timestamp: string }> = []
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const at = performance.timeOrigin + performance.now()
    const raw = Buffer.concat(chunks).toString('utf8')
    try { new Webhook(secret as string).verify(raw, req.headers as Record<string, string>) } catch { invalid++ }
    receipts.push({ at, timestamp: JSON.parse(raw).timestamp })
    res.writeHead(204).end()
  })
})
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()))
const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`

const server = await startServer({ DATABASE_URL: scratch.url, JWT_SECRET, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', DB_POOL_MAX: '10' })
for (let i = 0; i < 600 && !(await fetch(`http://127.0.0.1:${server.port}/readyz`).then((r) => r.ok, () => false)); i++) await new Promise((resolve) => setTimeout(resolve, 100))
const api = async (method: string, path: string, body?: object) => {
  const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined })
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
  return await res.json() as any
}

try {
  await api('POST', '/v2/orgs', { name: 'Quiet', slug: 'bench-quiet' })
  await api('POST', '/v2/orgs', { name: 'Subscribed', slug: 'bench-hooked' })
  secret = (await api('POST', '/v2/orgs/bench-hooked/webhooks', { url: hookUrl, events: ['membership.created', 'invitation.created'] })).secret
  const add = async (slug: string) => {
    const users = Array.from({ length: BATCH }, () => ({ email: `p-${randomUUID()}@example.com` }))
    const t0 = performance.now()
    await api('POST', `/v2/orgs/${slug}/members`, { users })
    return { ms: performance.now() - t0, answeredAt: performance.timeOrigin + performance.now() }
  }
  await add('bench-quiet') // warm-up, both paths
  await add('bench-hooked')
  while (receipts.length < BATCH) await new Promise((resolve) => setTimeout(resolve, 20))
  receipts.length = 0
  const quiet: number[] = []
  const hooked: number[] = []
  const latencies: number[] = []
  const rates: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    quiet.push((await add('bench-quiet')).ms)
    const { ms, answeredAt } = await add('bench-hooked')
    hooked.push(ms)
    while (receipts.length < BATCH) await new Promise((resolve) => setTimeout(resolve, 5))
    const round = receipts.splice(0)
    latencies.push(...round.map((x) => x.at - Date.parse(x.timestamp)))
    rates.push(BATCH / ((Math.max(...round.map((x) => x.at)) - answeredAt) / 1000))
  }
  const sorted = [...latencies].sort((a, b) => a - b)
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
  const q = median(quiet)
  const h = median(hooked)
  console.log(`bulk add of ${BATCH} (median of ${ROUNDS}): no webhook ${q.toFixed(0)} ms, one subscribed endpoint ${h.toFixed(0)} ms, ratio ${(h / q).toFixed(2)} (target ≤ 1.10)`)
  console.log(`delivery of ${BATCH} events to a local receiver (median of ${ROUNDS}): ${median(rates).toFixed(0)} events/s`)
  console.log(`commit-to-receipt over ${latencies.length} events: p50 ${pct(0.5).toFixed(0)} ms, p99 ${pct(0.99).toFixed(0)} ms (target p99 < 1000 ms); bad signatures: ${invalid}`)
} finally {
  await server.stop()
  receiver.close()
  await scratch.drop()
}
