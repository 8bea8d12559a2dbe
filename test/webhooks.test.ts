// Webhook delivery to a real local receiver that verifies every signature with the Standard
// Webhooks reference library: the documented events, retries with the same webhook-id, a
// receiver that is down then back, manual retry, disabling, and the endpoint CRUD.
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { createServer } from 'node:net'
import t from 'tap'
import pg from 'pg'
import { sql } from 'kysely'
import { bearer, buildTestApp, onPostgres, ownerWithOrg, type TestApp } from './helper.ts'
import { recordAttempts, type Attempted } from '../src/db/webhooks.ts'
import { startReceiver, type Receiver } from './webhook-receiver.ts'
import { freePort } from './listen.ts'

const FAST = { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', EVENTS_POLL_MS: '20', WEBHOOK_RETRY_SCHEDULE: '50ms,100ms,100ms', WEBHOOK_TIMEOUT_MS: '2000' }

async function subscribe (ctx: TestApp, owner: { slug: string, token: string }, receiver: Receiver, body: object = {}) {
  const res = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/webhooks`, headers: bearer(owner.token), payload: { url: receiver.url, ...body } })
  if (res.statusCode !== 201) throw new Error(`${res.statusCode} ${res.body}`)
  receiver.secret = res.json().secret
  return res.json()
}

async function feed (ctx: TestApp, owner: { slug: string, token: string }) {
  return (await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/events?limit=100`, headers: bearer(owner.token) })).json().results as any[]
}

async function deliveries (ctx: TestApp, owner: { slug: string, token: string }, webhookId: string) {
  return (await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/webhooks/${webhookId}/deliveries?limit=100`, headers: bearer(owner.token) })).json().results as any[]
}

async function until<T> (what: string, probe: () => Promise<T>, ok: (v: T) => boolean, ms = 30000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (ok(v)) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

t.test('add, update, remove, invite, accept, import and export reach the endpoint signed, as the feed has them', async (t) => {
  const ctx = await buildTestApp(t, FAST)
  const owner = await ownerWithOrg(ctx)
  const receiver = await startReceiver()
  t.teardown(receiver.close)
  const hook = await subscribe(ctx, owner, receiver)
  t.match(hook, { url: receiver.url, events: [], enabled: true, secret: /^whsec_[A-Za-z0-9+/]+=*$/ })
  const base = `/v2/orgs/${owner.slug}`
  // A user who has signed in before (added as a member), and one invited by email who accepts.
  const knownSub = `k-${randomUUID()}`
  await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(ctx.token({ sub: knownSub, email: `${knownSub}@example.com` })) })
  const known = await ctx.app.db.selectFrom('users').select('id').where('sub', '=', knownSub).executeTakeFirstOrThrow()
  const inviteeSub = `a-${randomUUID()}`
  const inviteeEmail = `${inviteeSub}@example.com`
  const added = (await ctx.app.inject({ method: 'POST', url: `${base}/members`, headers: bearer(owner.token), payload: { users: [{ email: inviteeEmail }, { email: `b-${randomUUID()}@example.com` }, { userId: known.id }] } })).json()
  await ctx.app.inject({ method: 'PATCH', url: `${base}/members/${added[0].userId}`, headers: bearer(owner.token), payload: { roleSlug: 'admin' } })
  await ctx.app.inject({ method: 'DELETE', url: `${base}/members/${added[1].userId}`, headers: bearer(owner.token) })
  await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(ctx.token({ sub: inviteeSub, email: inviteeEmail, email_verified: true })) })
  const accepted = (await ctx.app.inject({ method: 'GET', url: `${base}/members/${added[0].userId}`, headers: bearer(owner.token) })).json()
  t.equal(accepted.status, 'active', 'the invitation was accepted')
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `${base}/members/${known.id}`, headers: bearer(owner.token) })).statusCode, 200)
  const imported = await ctx.app.inject({ method: 'POST', url: `${base}/members/import`, headers: { ...bearer(owner.token), 'content-type': 'text/csv' }, payload: `email\r\nc-${randomUUID()}@example.com\r\n` })
  t.equal(imported.statusCode, 200)
  const exported = await ctx.app.inject({ method: 'POST', url: `${base}/members/export`, headers: bearer(owner.token) })
  t.equal(exported.statusCode, 200)
  const types = ['invitation.created', 'invitation.created', 'membership.created', 'membership.updated', 'invitation.revoked', 'invitation.accepted', 'membership.deleted',
    'invitation.created', 'members.imported', 'members.exported']
  await receiver.waitFor((r) => r.length >= types.length)
  const events = (await feed(ctx, owner)).slice(1) // after organization.created, which came before the webhook
  t.same(events.map((e) => e.type), types)
  const got = [...receiver.received].sort((a, b) => a.body.seq - b.body.seq)
  t.same(got.map((r) => r.body), events, 'each body is the event as the feed has it')
  t.ok(got.every((r) => r.verified), 'every signature verifies with the standardwebhooks library')
  t.same(got.map((r) => r.id), events.map((e) => e.id), 'webhook-id is the event id')
  t.ok(got.every((r) => /^v1,/.test(String(r.headers['webhook-signature'])) && /^\d+$/.test(String(r.headers['webhook-timestamp']))))
  t.same(events[0].data, (({ inviteToken, ...m }) => m)(added[0]))
  t.same(events[2].data, added[2], 'membership.created: the membership the add answered')
  t.match(events[3].data, { userId: added[0].userId, roleSlug: 'admin', status: 'invited' })
  t.match(events[4].data, { userId: added[1].userId, status: 'invited' })
  t.same(events[5].data, { ...accepted, groups: [] }, 'invitation.accepted: the membership as accepted')
  t.match(events[6].data, { userId: known.id, status: 'active' })
  t.match(events[8].data, { created: 1, skipped: 0, failed: 0 })
  t.match(events[9].data, { rows: 3, outcome: 'complete' })
  const list = await until('deliveries recorded', () => deliveries(ctx, owner, hook.id), (d) => d.length === types.length && d.every((x) => x.status === 'delivered'))
  t.match(list[0], { webhookId: hook.id, status: 'delivered', lastResponseCode: 200, attempts: [{ succeeded: true, responseCode: 200, response: 'ok' }] })
})

t.test('500 then 200: delivered on the retry with the same webhook-id; each attempt recorded', async (t) => {
  const ctx = await buildTestApp(t, FAST)
  const owner = await ownerWithOrg(ctx)
  const receiver = await startReceiver()
  t.teardown(receiver.close)
  let calls = 0
  receiver.respond = () => (++calls === 1 ? 500 : 200)
  const hook = await subscribe(ctx, owner, receiver, { events: ['membership.updated'] })
  await ctx.app.inject({ method: 'PATCH', url: `/v2/orgs/${owner.slug}`, headers: bearer(owner.token), payload: { name: 'Renamed' } })
  const email = `x-${randomUUID()}@example.com`
  const [m] = (await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users: [{ email }] } })).json()
  const sub = `s-${randomUUID()}`
  await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(ctx.token({ sub, email, email_verified: true })) })
  t.equal((await ctx.app.inject({ method: 'PATCH', url: `/v2/orgs/${owner.slug}/members/${m.userId}`, headers: bearer(owner.token), payload: { status: 'suspended' } })).statusCode, 200)
  await receiver.waitFor((r) => r.length >= 2)
  t.equal(receiver.received.length, 2, 'only the subscribed type: one failed attempt, one delivered')
  t.equal(receiver.received[0]!.id, receiver.received[1]!.id, 'the same webhook-id on the retry')
  t.equal(receiver.received[0]!.body.type, 'membership.updated')
  const [d] = await until('delivered', () => deliveries(ctx, owner, hook.id), (l) => l[0]?.status === 'delivered')
  t.match(d, { status: 'delivered', lastResponseCode: 200, attempts: [{ succeeded: false, responseCode: 500, response: 'failing with 500' }, { succeeded: true, responseCode: 200 }] })
})

t.test('receiver down: attempts recorded, delivered when it comes back; a manual retry sends it again', async (t) => {
  const ctx = await buildTestApp(t, { ...FAST, WEBHOOK_RETRY_SCHEDULE: '100ms,300ms,300ms,300ms,300ms,300ms' })
  const owner = await ownerWithOrg(ctx)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}/hooks`
  const created = (await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/webhooks`, headers: bearer(owner.token), payload: { url } })).json()
  await ctx.app.inject({ method: 'PATCH', url: `/v2/orgs/${owner.slug}`, headers: bearer(owner.token), payload: { name: 'Down' } })
  const failing = await until('two failed attempts', () => deliveries(ctx, owner, created.id), (l) => (l[0]?.attempts.length ?? 0) >= 2)
  t.match(failing[0], { status: 'pending', attempts: [{ succeeded: false, error: /connection failed/ }, { succeeded: false }] })
  t.match((await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/webhooks/${created.id}`, headers: bearer(owner.token) })).json(), { enabled: true, failingSince: String })
  const receiver = await startReceiver(port)
  t.teardown(receiver.close)
  receiver.secret = created.secret
  const [got] = await receiver.waitFor((r) => r.length === 1)
  t.ok(got!.verified)
  t.equal(got!.body.type, 'organization.updated')
  const [d] = await until('delivered', () => deliveries(ctx, owner, created.id), (l) => l[0]?.status === 'delivered')
  t.notOk('failingSince' in (await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/webhooks/${created.id}`, headers: bearer(owner.token) })).json(), 'a success ends the failing streak')
  // Manual retry: one more attempt with the same webhook-id.
  const retried = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/webhooks/${created.id}/deliveries/${d.id}/retry`, headers: bearer(owner.token) })
  t.equal(retried.statusCode, 202)
  t.match(retried.json(), { id: d.id, status: 'pending' })
  await receiver.waitFor((r) => r.length === 2)
  t.equal(receiver.received[1]!.id, got!.id, 'the manual retry sends the same webhook-id')
  t.equal((await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/webhooks/${created.id}/deliveries/${randomUUID()}/retry`, headers: bearer(owner.token) })).statusCode, 404)
})

t.test('an endpoint failing for WEBHOOK_DISABLE_AFTER_HOURS is disabled and says so; enabling delivers what waited', async (t) => {
  const ctx = await buildTestApp(t, { ...FAST, WEBHOOK_RETRY_SCHEDULE: '50ms' })
  const owner = await ownerWithOrg(ctx)
  const receiver = await startReceiver()
  t.teardown(receiver.close)
  receiver.respond = () => 503
  const hook = await subscribe(ctx, owner, receiver)
  // The endpoint has been failing for 73 hours already.
  await ctx.app.db.updateTable('webhooks').set({ failing_since: new Date(Date.now() - 73 * 3600000).toISOString() }).where('id', '=', hook.id).execute()
  await ctx.app.inject({ method: 'PATCH', url: `/v2/orgs/${owner.slug}`, headers: bearer(owner.token), payload: { name: 'One' } })
  const off = await until('disabled', async () => (await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/webhooks/${hook.id}`, headers: bearer(owner.token) })).json(), (w) => w.enabled === false)
  t.match(off, { enabled: false, disabledReason: 'every delivery failed for 72 hours' })
  await ctx.app.inject({ method: 'PATCH', url: `/v2/orgs/${owner.slug}`, headers: bearer(owner.token), payload: { name: 'Two' } })
  await new Promise((resolve) => setTimeout(resolve, 300))
  const seen = receiver.received.length
  t.equal(seen, 1, 'nothing is sent to a disabled endpoint')
  receiver.respond = () => 200
  const on = await ctx.app.inject({ method: 'PATCH', url: `/v2/orgs/${owner.slug}/webhooks/${hook.id}`, headers: bearer(owner.token), payload: { enabled: true } })
  t.match(on.json(), { enabled: true })
  t.notOk('disabledReason' in on.json())
  await receiver.waitFor((r) => r.some((m) => m.body.data.name === 'Two'))
  t.ok(receiver.received.every((m) => m.verified))
})

t.test('webhook CRUD: the secret shown on create and rotate only, validation, test endpoint', async (t) => {
  const ctx = await buildTestApp(t, FAST)
  const owner = await ownerWithOrg(ctx)
  const receiver = await startReceiver()
  t.teardown(receiver.close)
  const base = `/v2/orgs/${owner.slug}/webhooks`
  const hook = await subscribe(ctx, owner, receiver, { events: ['membership.created'], description: 'Billing' })
  const listed = (await ctx.app.inject({ method: 'GET', url: base, headers: bearer(owner.token) })).json()
  t.same(listed.results.map((w: any) => w.id), [hook.id])
  t.notOk(JSON.stringify(listed).includes(hook.secret), 'the list never shows the secret')
  t.notOk('secret' in (await ctx.app.inject({ method: 'GET', url: `${base}/${hook.id}`, headers: bearer(owner.token) })).json())
  const patched = await ctx.app.inject({ method: 'PATCH', url: `${base}/${hook.id}`, headers: bearer(owner.token), payload: { events: [], description: null } })
  t.match(patched.json(), { events: [] })
  t.notOk('description' in patched.json())
  const rotated = (await ctx.app.inject({ method: 'POST', url: `${base}/${hook.id}/rotate-secret`, headers: bearer(owner.token) })).json()
  t.match(rotated.secret, /^whsec_/)
  t.not(rotated.secret, hook.secret)
  receiver.secret = rotated.secret
  const tested = await ctx.app.inject({ method: 'POST', url: `${base}/${hook.id}/test`, headers: bearer(owner.token) })
  t.equal(tested.statusCode, 200)
  t.match(tested.json(), { eventType: 'webhook.test', eventId: null, status: 'delivered', attempts: [{ succeeded: true, responseCode: 200 }] })
  t.match(receiver.received.at(-1), { id: tested.json().id, verified: true, body: { type: 'webhook.test', orgSlug: owner.slug, data: { webhookId: hook.id } } }, 'signed with the new secret')
  for (const payload of [{ url: 'ftp://example.com/x' }, { url: 'not a url' }, { url: 'https://example.com', events: ['nope'] }, { url: 'https://u:p@example.com/' }, {}]) {
    const res = await ctx.app.inject({ method: 'POST', url: base, headers: bearer(owner.token), payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.equal(res.json().error, 'ValidationError')
  }
  t.equal((await ctx.app.inject({ method: 'PATCH', url: `${base}/${hook.id}`, headers: bearer(owner.token), payload: {} })).statusCode, 400)
  // Pointing an endpoint at the org's events needs the right to read them (the privilege ceiling).
  const key = (await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/api-keys`, headers: bearer(owner.token), payload: { slug: 'hooks-only', name: 'Hooks', permissions: ['orgs:webhooks:manage'] } })).json()
  const before = await ctx.app.db.selectFrom('webhooks').select(['id', 'url', 'event_types', 'description', 'enabled', 'secret']).where('org_id', '=', owner.orgId).execute()
  for (const [method, url, payload] of [['POST', base, { url: 'https://example.com/exfiltrate' }], ['PATCH', `${base}/${hook.id}`, { url: 'https://example.com/exfiltrate' }]] as const) {
    const res = await ctx.app.inject({ method, url, headers: { 'x-api-key': key.apiKey }, payload })
    t.equal(res.statusCode, 403, `${method} by a key without orgs:events:read`)
    t.equal(res.json().message, 'A webhook includes orgs:events:read, which the caller does not hold')
  }
  t.same(await ctx.app.db.selectFrom('webhooks').select(['id', 'url', 'event_types', 'description', 'enabled', 'secret']).where('org_id', '=', owner.orgId).execute(), before, 'nothing changed')
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `${base}/${hook.id}`, headers: bearer(owner.token) })).statusCode, 200)
  t.equal((await ctx.app.inject({ method: 'GET', url: `${base}/${hook.id}`, headers: bearer(owner.token) })).statusCode, 404)
  t.same((await ctx.app.inject({ method: 'GET', url: base, headers: bearer(owner.token) })).json(), { results: [] })
})

t.test('target safety: private, loopback and link-local targets refused at creation or at delivery, never sent', async (t) => {
  const ctx = await buildTestApp(t, { EVENTS_POLL_MS: '20', WEBHOOK_RETRY_SCHEDULE: '50ms', WEBHOOK_TIMEOUT_MS: '2000' })
  const owner = await ownerWithOrg(ctx)
  const base = `/v2/orgs/${owner.slug}/webhooks`
  for (const url of ['http://127.0.0.1/x', 'http://169.254.169.254/latest/meta-data', 'http://10.0.0.1/', 'https://localhost/x', 'https://127.0.0.1/',
    'https://169.254.169.254/', 'https://10.0.0.1/', 'https://192.168.1.1/', 'https://[::1]/', 'https://[fe80::1]/', 'https://[::ffff:127.0.0.1]/', 'https://a.localhost/', 'https://localhost./']) {
    const res = await ctx.app.inject({ method: 'POST', url: base, headers: bearer(owner.token), payload: { url } })
    t.equal(res.statusCode, 400, url)
    t.match(res.json(), { error: 'ValidationError', details: [{ field: 'body/url' }] }, url)
  }
  t.same(await ctx.app.db.selectFrom('webhooks').select('id').where('org_id', '=', owner.orgId).execute(), [], 'nothing saved')
  // A name that resolves to a private address passes creation, and is refused at delivery: a
  // listener on the port sees no connection.
  const connections: unknown[] = []
  const listener = createServer((socket) => { connections.push(socket); socket.destroy() })
  await new Promise<void>((resolve) => listener.listen(0, () => resolve()))
  t.teardown(() => listener.close())
  const port = (listener.address() as { port: number }).port
  // The machine's own name resolves (/etc/hosts) to a loopback or private address.
  const res = await ctx.app.inject({ method: 'POST', url: base, headers: bearer(owner.token), payload: { url: `https://${hostname()}:${port}/hook` } })
  t.equal(res.statusCode, 201, `${hostname()} is accepted at creation (it is a name)`)
  await ctx.app.inject({ method: 'PATCH', url: `/v2/orgs/${owner.slug}`, headers: bearer(owner.token), payload: { name: 'Probe' } })
  const hooks = (await ctx.app.inject({ method: 'GET', url: base, headers: bearer(owner.token) })).json().results
  for (const hook of hooks) {
    const [d] = await until('a refused attempt', () => deliveries(ctx, owner, hook.id), (l) => (l[0]?.attempts.length ?? 0) >= 1)
    t.match(d.attempts[0], { succeeded: false, error: /resolves to a private, loopback or link-local address/ }, hook.url)
  }
  t.equal(connections.length, 0, 'no connection was made')
})

t.test('recording an attempt takes the webhook before its delivery, as deleting the webhook does, so the two cannot deadlock',
  { skip: onPostgres ? false : 'PostgreSQL only: the embedded database has one session, so nothing runs beside the recording' }, async (t) => {
    const ctx = await buildTestApp(t)
    const owner = await ownerWithOrg(ctx)
    const hook = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/webhooks`, headers: bearer(owner.token), payload: { url: 'https://hooks.example.com/in' } })
    t.equal(hook.statusCode, 201)
    const webhookId = hook.json().id as string
    const [delivery] = (await sql<{ id: string }>`insert into webhook_deliveries (webhook_id, event_type, attempts, claimed_until)
      values (${webhookId}, 'membership.created', 1, now() + interval '1 minute') returning id`.execute(ctx.app.db)).rows
    // A failed attempt: recording it also updates the webhook's failing streak.
    const attempted: Attempted[] = [{
      delivery: { id: delivery!.id, webhookId, eventType: 'membership.created', attempts: 1, url: 'https://hooks.example.com/in', secret: 'whsec_x', message: null },
      result: { startedAt: new Date(), succeeded: false, responseCode: 500, durationMs: 5, response: null, error: null },
      retry: true
    }]
    // A deletion of the webhook that holds its row and has not reached its deliveries yet.
    const deletion = new pg.Client({ connectionString: ctx.app.config.DATABASE_URL })
    await deletion.connect()
    t.teardown(() => deletion.end())
    const deletionPid = (await deletion.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid
    await deletion.query('begin')
    await deletion.query('select id from webhooks where id = $1 for update', [webhookId])
    const recording = recordAttempts(ctx.app.db, attempted, { retrySchedule: [60000], disableAfterHours: 24 })
    const outcome = recording.then(() => 'recorded', (e: Error) => e.message)
    for (let i = 0; i < 200; i++) {
      const waiting = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and pid <> ${deletionPid}`.execute(ctx.app.db)
      if (waiting.rows[0]!.n > 0) break
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const probe = await sql`select id from webhook_deliveries where id = ${delivery!.id} for update nowait`.execute(ctx.app.db).then(() => 'free', (e: Error) => e.message)
    t.equal(probe, 'free', 'the recording waits for the webhook before it touches the delivery')
    await deletion.query('delete from webhooks where id = $1', [webhookId]).catch(() => {})
    await deletion.query('commit').catch(() => {})
    t.equal(await outcome, 'recorded', 'the recording ends without an error once the webhook is gone')
    const attempts = await sql<{ n: number }>`select count(*)::int as n from webhook_attempts where delivery_id = ${delivery!.id}`.execute(ctx.app.db)
    t.equal(attempts.rows[0]!.n, 0, 'nothing is recorded for a delivery deleted with its webhook')
  })
