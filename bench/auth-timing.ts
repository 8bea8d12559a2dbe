// npm run bench:auth: how long a refused API key takes, by the way it is wrong. An unknown
// prefix must cost what a wrong secret costs (one lookup by prefix, then a constant-time
// compare against a dummy hash), so timing does not tell which prefixes exist. Kinds are
// interleaved request by request, so drift in the machine's load hits them alike.
//   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_ROUNDS (3000)
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { createOrganization } from '../src/db/orgs.ts'
import { upsertUserFromClaims } from '../src/db/users.ts'
import { insertApiKey } from '../src/db/api-keys.ts'
import { scratchDatabase } from './lib/harness.ts'

const base = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const rounds = Number(process.env.BENCH_ROUNDS ?? 3000)
const scratch = await scratchDatabase(base, 'orgroster_bench_auth')
const url = scratch.url
const app = await buildApp(loadConfig({
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  JWT_SECRET: 'bench-secret-that-is-long-enough-0123456789',
  DATABASE_URL: url,
  RATE_LIMIT_MAX: '1000000',
  AUTH_FAILURE_MAX: '1000000'
}))
try {
  const owner = await upsertUserFromClaims(app.db, { sub: 'bench-owner', email: 'bench-owner@example.com' })
  await createOrganization(app.db, owner.id, { slug: 'bench', name: 'Bench' }, { actorId: null, actorKind: 'system', requestId: null })
  const org = await app.db.selectFrom('organizations').select('id').where('slug', '=', 'bench').executeTakeFirstOrThrow()
  // Other keys, so the prefix index is not trivially small.
  for (let i = 0; i < 200; i++) await insertApiKey(app.db, { orgId: org.id, orgSlug: 'bench', slug: `k${i}`, name: 'k', permissions: ['orgs:read'] })
  const { raw } = await insertApiKey(app.db, { orgId: org.id, orgSlug: 'bench', slug: 'real', name: 'real', permissions: ['orgs:read'] })
  const [, slug, prefix, secret] = raw.split('_') as [string, string, string, string]
  const kinds: Record<string, string> = {
    'valid key (200)': raw,
    'wrong secret': `iak_${slug}_${prefix}_${secret.replace(/^./, secret[0] === 'a' ? 'b' : 'a')}`,
    'unknown prefix': `iak_${slug}_${'0'.repeat(16)}_${secret}`,
    'malformed (no lookup)': 'iak_nothing'
  }
  const samples = new Map(Object.keys(kinds).map((k) => [k, [] as number[]]))
  const statuses = new Map<string, Set<number>>()
  for (let i = 0; i < rounds + 200; i++) {
    for (const [kind, key] of Object.entries(kinds)) {
      const started = process.hrtime.bigint()
      const res = await app.inject({ method: 'GET', url: '/v2/orgs/bench', headers: { 'x-api-key': key } })
      const micros = Number(process.hrtime.bigint() - started) / 1000
      if (i >= 200) samples.get(kind)!.push(micros) // the first 200 rounds warm up
      statuses.set(kind, (statuses.get(kind) ?? new Set()).add(res.statusCode))
    }
  }
  const at = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))] as number
  const reference = at(samples.get('wrong secret')!, 0.5)
  console.log(`${rounds} requests per kind through inject, PostgreSQL\n`)
  console.log('| key | status | p50 µs | p90 µs | p50 ÷ wrong secret p50 |')
  console.log('|---|---|---|---|---|')
  for (const [kind, xs] of samples) {
    console.log(`| ${kind} | ${[...statuses.get(kind)!].join(', ')} | ${at(xs, 0.5).toFixed(0)} | ${at(xs, 0.9).toFixed(0)} | ${(at(xs, 0.5) / reference).toFixed(2)} |`)
  }
} finally {
  await app.close()
  await scratch.drop()
}
