// Delivery across processes on one PostgreSQL: a change committed by an instance that is
// SIGKILLed at once is delivered by the next one; two instances deliver each event once; seq
// orders an org's events under concurrent writers from both instances. On both databases: a
// delivery claimed by an instance that dies before attempting it waits out the claim's lease,
// then is delivered once by another.
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import t from 'tap'
import { startServer } from '../bench/server-process.ts'
import { mintToken } from '../src/lib/dev-token.ts'
import { resolveJwtKeys } from '../src/lib/jwt-keys.ts'
import { claimDeliveries, dispatchEvents } from '../src/db/webhooks.ts'
import { emitEvents } from '../src/db/events.ts'
import { bearer, buildTestApp, createTestDatabase, JWT_SECRET, onPostgres, ownerWithOrg, testConfig } from './helper.ts'
import { startReceiver } from './webhook-receiver.ts'

const skip = !onPostgres && 'instances share an outbox only through a PostgreSQL server; the embedded database belongs to one process'
/** A server process, answering once its migrations ran (a loaded machine may take a while). */
async function server (env: Record<string, string>) {
  const s = await startServer(env)
  for (let i = 0; i < 600; i++) {
    if (await fetch(`http://127.0.0.1:${s.port}/readyz`).then((r) => r.ok, () => false)) return s
    if (s.child.exitCode !== null) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await s.stop()
  throw new Error('the server did not become ready')
}

const FAST = { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', EVENTS_POLL_MS: '20', WEBHOOK_RETRY_SCHEDULE: '50ms,100ms', WEBHOOK_TIMEOUT_MS: '2000' }

t.test('SIGKILL right after a commit: the next instance delivers it', { skip }, async (t) => {
  const databaseUrl = await createTestDatabase(t)
  const config = testConfig({ DATABASE_URL: databaseUrl })
  const token = mintToken(resolveJwtKeys(config), config, { sub: `k-${randomUUID()}`, email: `k-${randomUUID()}@example.com` })
  const receiver = await startReceiver()
  t.teardown(receiver.close)
  const env = { DATABASE_URL: databaseUrl, JWT_SECRET, ...FAST }
  // The first instance looks for work at start, then not for a minute: it never delivers.
  const first = await server({ ...env, EVENTS_POLL_MS: '60000' })
  t.teardown(() => { if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill('SIGKILL') })
  const call = async (port: number, method: string, path: string, body?: object) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { ...bearer(token), ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) })
    return { status: res.status, body: await res.json() as any }
  }
  const slug = `kill-${randomUUID().slice(0, 8)}`
  t.equal((await call(first.port, 'POST', '/v2/orgs', { name: 'Killed', slug })).status, 201)
  const hook = await call(first.port, 'POST', `/v2/orgs/${slug}/webhooks`, { url: receiver.url })
  receiver.secret = hook.body.secret
  const added = await call(first.port, 'POST', `/v2/orgs/${slug}/members`, { users: [{ email: `late-${randomUUID()}@example.com` }] })
  t.equal(added.status, 201, 'committed')
  first.child.kill('SIGKILL')
  await new Promise((resolve) => first.child.once('exit', resolve))
  t.equal(receiver.received.length, 0, 'nothing was delivered before the kill')
  const second = await server(env)
  t.teardown(second.stop)
  const [got] = await receiver.waitFor((r) => r.length >= 1, 60000)
  t.match(got, { verified: true, body: { type: 'invitation.created', orgSlug: slug, data: { userId: added.body[0].userId } } })
})

t.test('two instances on one PostgreSQL: each event delivered once, seq in commit order', { skip }, async (t) => {
  const one = await buildTestApp(t, FAST)
  const two = await buildTestApp(t, FAST)
  const receiver = await startReceiver()
  t.teardown(receiver.close)
  const owner = await ownerWithOrg(one)
  const hook = (await one.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/webhooks`, headers: bearer(owner.token), payload: { url: receiver.url } })).json()
  receiver.secret = hook.secret
  // Writers on both instances at once: 40 adds of one person, 2 bulk adds of 30.
  const add = (ctx: typeof one, users: object[]) => ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users } })
  const person = () => ({ email: `p-${randomUUID()}@example.com` })
  const results = await Promise.all([
    ...Array.from({ length: 40 }, (_, i) => add(i % 2 === 0 ? one : two, [person()])),
    add(one, Array.from({ length: 30 }, person)),
    add(two, Array.from({ length: 30 }, person))
  ])
  t.ok(results.every((r) => r.statusCode === 201), 'every add committed')
  const total = 100
  await receiver.waitFor((r) => new Set(r.map((m) => m.id)).size >= total, 60000)
  await new Promise((resolve) => setTimeout(resolve, 500)) // time for a duplicate to show up
  const ids = receiver.received.map((m) => m.id)
  t.equal(ids.length, total, 'no event was delivered twice')
  t.equal(new Set(ids).size, total)
  t.ok(receiver.received.every((m) => m.verified))
  const rows = await one.app.db.selectFrom('org_events').select(['seq', 'created_at']).where('org_id', '=', owner.orgId).orderBy('seq').execute()
  t.same(rows.map((r) => r.seq), Array.from({ length: total + 1 }, (_, i) => i + 1), 'seq is gapless')
  t.ok(rows.every((r, i) => i === 0 || rows[i - 1]!.created_at <= r.created_at), 'seq order is commit order (each event written after the previous committed)')
  const attempts = await one.app.db.selectFrom('webhook_deliveries').select(['attempts']).where('webhook_id', '=', hook.id).execute()
  t.equal(attempts.length, total)
  t.ok(attempts.every((a) => a.attempts === 1), 'one attempt each')
  // Bulk adds are contiguous: a writer holds the org's counter from its first event to commit.
  const bySeq = [...receiver.received].sort((a, b) => a.body.seq - b.body.seq)
  t.same(bySeq.map((m) => m.body.seq), Array.from({ length: total }, (_, i) => i + 2))
})

t.test('a claim whose instance died is delivered by another once its lease expires, exactly once', async (t) => {
  // A long attempt timeout: the live worker waits on the held answer below, not on a timeout.
  const ctx = await buildTestApp(t, { ...FAST, WEBHOOK_TIMEOUT_MS: '20000' })
  const receiver = await startReceiver()
  t.teardown(receiver.close)
  const owner = await ownerWithOrg(ctx)
  const hook = (await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/webhooks`, headers: bearer(owner.token), payload: { url: receiver.url } })).json()
  receiver.secret = hook.secret
  // The live worker's attempt of the first event is held, so it claims nothing else meanwhile.
  let answer = (_status: number): void => {}
  const held = new Promise<number>((resolve) => { answer = resolve })
  receiver.respond = (m) => (m.body.type === 'organization.updated' ? held : 200)
  await ctx.app.inject({ method: 'PATCH', url: `/v2/orgs/${owner.slug}`, headers: bearer(owner.token), payload: { name: 'Held' } })
  await receiver.waitFor((r) => r.length === 1)
  const added = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users: [{ email: `lease-${randomUUID()}@example.com` }] } })
  t.equal(added.statusCode, 201)
  // Another instance queues and claims the new event's delivery through the real functions, for
  // a short lease, and dies: it never attempts it, never records, never gives it back.
  const LEASE_MS = 1500
  const claimedAt = Date.now()
  t.equal(await dispatchEvents(ctx.app.db), 1)
  const claimed = await claimDeliveries(ctx.app.db, 10, LEASE_MS)
  t.equal(claimed.length, 1, 'the dead instance claimed the delivery (the live worker holds the other)')
  t.match(claimed[0], { webhookId: hook.id, eventType: 'invitation.created', attempts: 1 })
  answer(200)
  await receiver.waitFor((r) => r.length >= 2, 30000)
  const got = receiver.received[1]!
  t.equal(got.id, claimed[0]!.message?.id, 'the claimed event')
  t.ok(got.at >= claimedAt + LEASE_MS, `not sent before the lease expired (${got.at - claimedAt} ms after the claim)`)
  t.ok(got.verified)
  await new Promise((resolve) => setTimeout(resolve, 500)) // time for a second attempt to show up
  t.same(receiver.received.map((m) => m.body.type), ['organization.updated', 'invitation.created'], 'each delivered once')
  const delivery = await ctx.app.db.selectFrom('webhook_deliveries').select(['status', 'attempts', 'claimed_until']).where('id', '=', claimed[0]!.id).executeTakeFirstOrThrow()
  t.same(delivery, { status: 'delivered', attempts: 2, claimed_until: null }, 'the dead claim counts as an attempt; the delivery settled')
  const attempts = await ctx.app.db.selectFrom('webhook_attempts').select(['succeeded']).where('delivery_id', '=', claimed[0]!.id).execute()
  t.same(attempts, [{ succeeded: true }], 'one attempt recorded: the live instance\'s')
})

t.test('an uncommitted transaction with events does not hold up other writers of its org; seqs follow commit order', { skip }, async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  // A writer emits an event and stays open, as a long import does.
  let commit!: () => void
  const gate = new Promise<void>((resolve) => { commit = resolve })
  let emitted!: () => void
  const open = new Promise<void>((resolve) => { emitted = resolve })
  const slow = ctx.app.db.transaction().execute(async (trx) => {
    await emitEvents(trx, { actorKind: 'system', actorId: null, requestId: null }, { id: owner.orgId, slug: owner.slug }, [{ type: 'organization.updated', data: {} }])
    emitted()
    await gate
  })
  await open
  const add = ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users: [{ email: `w-${randomUUID()}@example.com` }] } })
  const outcome = await Promise.race([add.then((r) => r.statusCode), new Promise((resolve) => setTimeout(() => resolve('still waiting after 3 s'), 3000))])
  t.equal(outcome, 201, 'the add commits while the other transaction is open')
  commit()
  await slow
  await add
  const rows = await ctx.app.db.selectFrom('org_events').select(['seq', 'type', 'created_at']).where('org_id', '=', owner.orgId).orderBy('seq').execute()
  t.same(rows.map((r) => r.seq), rows.map((_, i) => i + 1), 'gapless')
  t.equal(rows.at(-1)!.type, 'organization.updated', 'the later commit has the later seq')
  t.ok(rows.every((r, i) => i === 0 || rows[i - 1]!.created_at <= r.created_at), 'timestamps grow with seq')
})

t.test('numbering a commit\'s events reads its own rows, not every event its org wrote before', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const actor = { actorKind: 'system' as const, actorId: null, requestId: null }
  const org = { id: owner.orgId, slug: owner.slug }
  // 3,000 events committed: each leaves an index entry behind until VACUUM.
  await ctx.app.db.transaction().execute(async (trx) => {
    await emitEvents(trx, actor, org, Array.from({ length: 3000 }, () => ({ type: 'organization.updated' as const, data: {} })))
  })
  await ctx.app.db.transaction().execute(async (trx) => {
    await emitEvents(trx, actor, org, [{ type: 'organization.updated', data: {} }])
    const blocks = async () => Number((await sql<{ n: string }>`select pg_stat_get_xact_blocks_fetched('org_events'::regclass) as n`.execute(trx)).rows[0]!.n)
    const before = await blocks()
    await sql`set constraints org_events_number immediate`.execute(trx)
    // The old trigger read the org's 3,000 numbered rows (about 60 heap pages) twice.
    t.ok(await blocks() - before < 20, `numbering read ${await blocks() - before} pages of org_events`)
  })
  // Each of a large commit's rows asks whether it is numbered yet: by its key, not by a scan of
  // the index that keeps every numbered event until VACUUM (chosen once the statistics say few
  // rows are pending, as they do after ANALYZE).
  await sql`analyze org_events`.execute(ctx.app.db)
  await ctx.app.db.transaction().execute(async (trx) => {
    await emitEvents(trx, actor, org, Array.from({ length: 2000 }, () => ({ type: 'organization.updated' as const, data: {} })))
    const blocks = async () => Number((await sql<{ n: string }>`select pg_stat_get_xact_blocks_fetched('org_events'::regclass) as n`.execute(trx)).rows[0]!.n)
    const before = await blocks()
    await sql`set constraints org_events_number immediate`.execute(trx)
    const read = await blocks() - before
    t.ok(read < 2000 * 20, `numbering 2,000 events read ${read} pages of org_events`)
  })
  const seqs = (await ctx.app.db.selectFrom('org_events').select('seq').where('org_id', '=', owner.orgId).orderBy('seq').execute()).map((r) => r.seq)
  t.same(seqs, seqs.map((_, i) => i + 1), 'gapless')
})
