// The JetStream sink: every event on `orgroster.{orgSlug}.{type}` with Nats-Msg-Id = event id;
// a NATS server restart (a server of this test's own, on a random port with its own store)
// delays publication and loses nothing, and API requests never notice; an org's cursor claimed
// by an instance that dies is published by another once the claim's lease expires.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { sql } from 'kysely'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstream } from '@nats-io/jetstream'
import { claimSinkCursors, emitEvents } from '../src/db/events.ts'
import { NATS_STREAM } from '../src/plugins/nats-events.ts'
import { bearer, buildTestApp, ownerWithOrg, type TestApp } from './helper.ts'
import { freePort } from './listen.ts'

const NATS_SERVER = '/usr/sbin/nats-server'

async function reachable (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true) })
    s.on('error', () => resolve(false))
  })
}

async function until (what: string, ok: () => Promise<boolean>, ms = 30000): Promise<void> {
  const end = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

interface Got { subject: string, msgId: string | undefined, body: any }

/** Every message of the org's subjects in the stream, from the start. */
async function streamOf (nc: NatsConnection, slug: string, expected: number): Promise<Got[]> {
  const consumer = await jetstream(nc).consumers.get(NATS_STREAM, { filter_subjects: `orgroster.${slug}.>` })
  const got: Got[] = []
  const messages = await consumer.fetch({ max_messages: expected + 10, expires: 1500 })
  for await (const m of messages) got.push({ subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id'), body: m.json() })
  return got
}

async function published (ctx: TestApp, orgId: string): Promise<boolean> {
  const counter = await ctx.app.db.selectFrom('org_event_counters').select('seq').where('org_id', '=', orgId).executeTakeFirst()
  const cursor = await ctx.app.db.selectFrom('event_sink_cursors').select('seq').where('sink', '=', 'nats').where('org_id', '=', orgId).executeTakeFirst()
  return counter !== undefined && cursor?.seq === counter.seq
}

async function feed (ctx: TestApp, owner: { slug: string, token: string }) {
  return (await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/events?limit=100`, headers: bearer(owner.token) })).json().results as any[]
}

t.test('events arrive on orgroster.{orgSlug}.{type} with the event id as Nats-Msg-Id', { skip: !(await reachable(4222)) && 'no NATS server on 127.0.0.1:4222 (.ci/run starts one)' }, async (t) => {
  const ctx = await buildTestApp(t, { EVENTS_NATS_URL: 'nats://127.0.0.1:4222', EVENTS_POLL_MS: '20' })
  const owner = await ownerWithOrg(ctx)
  await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users: [{ email: `n-${randomUUID()}@example.com` }, { email: `m-${randomUUID()}@example.com` }] } })
  await ctx.app.inject({ method: 'PATCH', url: `/v2/orgs/${owner.slug}`, headers: bearer(owner.token), payload: { name: 'On NATS' } })
  await until('publication', async () => await published(ctx, owner.orgId))
  const nc = await connect({ servers: 'nats://127.0.0.1:4222' })
  t.teardown(() => nc.close())
  const events = await feed(ctx, owner)
  const got = await streamOf(nc, owner.slug, events.length)
  t.same(got.map((g) => g.subject), events.map((e) => `orgroster.${owner.slug}.${e.type}`), 'in seq order, on the documented subjects')
  t.same(got.map((g) => g.msgId), events.map((e) => e.id), 'Nats-Msg-Id is the event id')
  t.same(got.map((g) => g.body), events, 'the body is the event as the feed has it')
})

t.test('a NATS restart delays publication and loses nothing; API requests go on', { skip: !existsSync(NATS_SERVER) && `${NATS_SERVER} is not installed` }, async (t) => {
  const port = await freePort()
  const store = mkdtempSync(join(tmpdir(), 'orgroster-nats-'))
  let server: ChildProcess | null = null
  const start = async () => {
    server = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], { stdio: 'ignore' })
    await until('nats-server to listen', async () => await reachable(port))
  }
  const stop = async () => {
    const s = server!
    const exited = new Promise((resolve) => s.once('exit', resolve))
    s.kill('SIGTERM')
    await exited
  }
  t.teardown(async () => { if (server?.exitCode === null) await stop(); rmSync(store, { recursive: true, force: true }) })
  await start()
  const ctx = await buildTestApp(t, { EVENTS_NATS_URL: `nats://127.0.0.1:${port}`, EVENTS_POLL_MS: '20' })
  const owner = await ownerWithOrg(ctx)
  const add = async () => await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users: [{ email: `r-${randomUUID()}@example.com` }] } })
  t.equal((await add()).statusCode, 201)
  await until('first publication', async () => await published(ctx, owner.orgId))
  await stop()
  for (let i = 0; i < 5; i++) {
    const began = performance.now()
    const res = await add()
    t.equal(res.statusCode, 201, 'a change commits while NATS is down')
    t.ok(performance.now() - began < 2000, 'and does not wait for NATS')
  }
  t.notOk(await published(ctx, owner.orgId), 'publication waits')
  await start()
  await until('publication after the restart', async () => await published(ctx, owner.orgId), 30000)
  const nc = await connect({ servers: `nats://127.0.0.1:${port}` })
  t.teardown(() => nc.close())
  const events = await feed(ctx, owner)
  t.equal(events.length, 7)
  const got = await streamOf(nc, owner.slug, events.length)
  t.same(got.map((g) => g.msgId), events.map((e) => e.id), 'every event once, in order, across the restart')
})

t.test('a cursor claimed by an instance that died is published by another once its lease expires, once', { skip: !(await reachable(4222)) && 'no NATS server on 127.0.0.1:4222 (.ci/run starts one)' }, async (t) => {
  const ctx = await buildTestApp(t, { EVENTS_NATS_URL: 'nats://127.0.0.1:4222', EVENTS_POLL_MS: '20' })
  const owner = await ownerWithOrg(ctx)
  await until('organization.created published', async () => await published(ctx, owner.orgId))
  const nc = await connect({ servers: 'nats://127.0.0.1:4222' })
  t.teardown(() => nc.close())
  // Every publication as sent (JetStream would drop a second copy; a plain subscriber sees it).
  const sent: Array<{ msgId: string | undefined, at: number }> = []
  const sub = nc.subscribe(`orgroster.${owner.slug}.>`, { callback: (_err, m) => { sent.push({ msgId: m.headers?.get('Nats-Msg-Id'), at: Date.now() }) } })
  await nc.flush()
  const org = (await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}`, headers: bearer(owner.token) })).json()
  // Another instance claims the org's cursor for a short lease through the real claim, in the
  // event's own transaction (so the live sink cannot take it first), and dies without publishing.
  const LEASE_MS = 1500
  const claimedAt = Date.now()
  const claimed = await ctx.app.db.transaction().execute(async (trx) => {
    await emitEvents(trx, { actorKind: 'system', actorId: null, requestId: null }, { id: owner.orgId, slug: owner.slug }, [{ type: 'organization.updated', data: org }])
    // Events are numbered at commit; numbered now, the claim sees this one.
    await sql`set constraints org_events_number immediate`.execute(trx)
    return await claimSinkCursors(trx, 'nats', 20, LEASE_MS)
  })
  t.same(claimed, [{ orgId: owner.orgId, seq: 1 }], 'the dead instance holds the cursor, before the new event')
  await until('publication after the lease', async () => await published(ctx, owner.orgId), 30000)
  const events = await feed(ctx, owner)
  t.same(events.map((e) => e.type), ['organization.created', 'organization.updated'])
  const at = sent.find((m) => m.msgId === events[1].id)?.at ?? 0
  t.ok(at >= claimedAt + LEASE_MS, `not published before the lease expired (${at - claimedAt} ms after the claim)`)
  await new Promise((resolve) => setTimeout(resolve, 300)) // time for a second publication to show up
  sub.unsubscribe()
  t.same(sent.map((m) => m.msgId), [events[1].id], 'published once')
  const got = await streamOf(nc, owner.slug, events.length)
  t.same(got.map((g) => g.msgId), events.map((e) => e.id), 'the stream has every event once, in order')
})
