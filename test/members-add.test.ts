import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import t from 'tap'
import { bearer, buildTestApp, onPostgres, ownerWithOrg, type TestApp } from './helper.ts'

async function knownUser (ctx: TestApp): Promise<{ id: string, email: string, token: string }> {
  const sub = `known-${randomUUID()}`
  const email = `${sub}@example.com`
  const token = ctx.token({ sub, email })
  await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(token) })
  const row = await ctx.app.db.selectFrom('users').select('id').where('sub', '=', sub).executeTakeFirstOrThrow()
  return { id: row.id, email, token }
}

const SEED_FIELDS = ['orgSlug', 'userId', 'status', 'id', 'roleSlug', 'joinedVia', 'groups', 'createdAt', 'updatedAt']

t.test('bulk add: known users active, unknown emails invited, groups created', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const a = await knownUser(ctx)
  const b = await knownUser(ctx)
  const newcomer = `new-${randomUUID()}@example.com`
  const res = await ctx.app.inject({
    method: 'POST',
    url: `/v2/orgs/${owner.slug}/members`,
    headers: bearer(owner.token),
    payload: { users: [{ userId: a.id, roleSlug: 'admin', groups: ['eng', 'ops'] }, { email: b.email.toUpperCase() }, { email: newcomer, groups: ['eng'] }] }
  })
  t.equal(res.statusCode, 201)
  const [ma, mb, mc] = res.json()
  for (const m of [ma, mb, mc]) for (const f of SEED_FIELDS) t.ok(f in m, `has ${f}`)
  t.match(ma, { orgSlug: owner.slug, userId: a.id, status: 'active', roleSlug: 'admin', joinedVia: 'direct', groups: ['eng', 'ops'], createdBy: String, joinedAt: String })
  t.notOk('inviteToken' in ma)
  t.match(mb, { userId: b.id, status: 'active', roleSlug: 'member', groups: [] })
  t.match(mc, { status: 'invited', inviteEmail: newcomer, invitedBy: String, invitedAt: String, inviteToken: String, joinedVia: 'invite-email', groups: ['eng'] })
  t.notOk('joinedAt' in mc)
  for (const m of [ma, mb, mc]) t.notOk(Object.values(m).includes(null), 'absent values are omitted, not null')

  const stored = await ctx.app.db.selectFrom('org_memberships').select('invite_token_hash').where('user_id', '=', mc.userId).executeTakeFirstOrThrow()
  t.not(stored.invite_token_hash, mc.inviteToken, 'only a hash of the invite token is stored')
  const got = await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/members/${mc.userId}`, headers: bearer(owner.token) })
  t.notOk('inviteToken' in got.json(), 'the token is never listed again')
  const groups = await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/groups`, headers: bearer(owner.token) })
  // Both groups are created by one statement (one created_at): their list order is their ids' order.
  t.same(groups.json().results.map((g: { slug: string, memberCount: number }) => [g.slug, g.memberCount]).sort(), [['eng', 2], ['ops', 1]])
  const audit = await ctx.app.db.selectFrom('audit_events').select(['action', 'metadata']).where('org_id', '=', owner.orgId).where('action', '=', 'members.added').execute()
  t.equal(audit.length, 1)
  t.match(audit[0]?.metadata, { created: 3, skipped: 0, invited: 1 })
})

t.test('existing members: 409 listing them and nothing written, or skipped with skipExisting', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const a = await knownUser(ctx)
  const b = await knownUser(ctx)
  const url = `/v2/orgs/${owner.slug}/members`
  t.equal((await ctx.app.inject({ method: 'POST', url, headers: bearer(owner.token), payload: { users: [{ userId: a.id }] } })).statusCode, 201)
  const fresh = `fresh-${randomUUID()}@example.com`
  const conflict = await ctx.app.inject({ method: 'POST', url, headers: bearer(owner.token), payload: { users: [{ email: fresh }, { userId: b.id }, { email: a.email }] } })
  t.equal(conflict.statusCode, 409)
  t.match(conflict.json(), { error: 'ConflictError', message: String, conflicts: [{ index: 2, userId: a.id, email: a.email }] })
  const count = await ctx.app.db.selectFrom('org_memberships').select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', owner.orgId).executeTakeFirstOrThrow()
  t.equal(Number(count.n), 2, 'nothing written')
  const pending = await ctx.app.db.selectFrom('users').select('id').where('email', '=', fresh).executeTakeFirst()
  t.equal(pending, undefined, 'no pending user left behind')

  const skip = await ctx.app.inject({ method: 'POST', url, headers: bearer(owner.token), payload: { users: [{ email: fresh }, { userId: b.id }, { email: a.email }], skipExisting: true } })
  t.equal(skip.statusCode, 201)
  t.same(skip.json().map((m: { userId: string }) => m.userId).includes(a.id), false)
  t.equal(skip.json().length, 2)
  const again = await ctx.app.inject({ method: 'POST', url, headers: bearer(owner.token), payload: { users: [{ userId: b.id }], skipExisting: true } })
  t.equal(again.statusCode, 201)
  t.same(again.json(), [])
})

t.test('bad add requests are 400 naming the entry', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const a = await knownUser(ctx)
  const url = `/v2/orgs/${owner.slug}/members`
  const cases: Array<[string, unknown, RegExp]> = [
    ['empty list', { users: [] }, /body\/users must NOT have fewer than 1 items/],
    ['1,001 entries', { users: Array.from({ length: 1001 }, (_, i) => ({ email: `u${i}@example.com` })) }, /body\/users must NOT have more than 1000 items/],
    ['both userId and email', { users: [{ email: 'x@example.com' }, { userId: a.id, email: a.email }] }, /body\/users\/1 must have exactly one of userId or email/],
    ['neither', { users: [{ roleSlug: 'member' }] }, /body\/users\/0 must have exactly one of userId or email/],
    ['duplicate email', { users: [{ email: 'dup@example.com' }, { email: 'DUP@example.com' }] }, /body\/users\/1 duplicates entry 0/],
    ['same user by id and email', { users: [{ userId: a.id }, { email: a.email }] }, /body\/users\/1 is the same user as entry 0/],
    ['unknown role', { users: [{ email: 'y@example.com', roleSlug: 'wizard' }] }, /body\/users\/0\/roleSlug role wizard does not exist/],
    ['unknown user id', { users: [{ userId: randomUUID() }] }, /body\/users\/0\/userId is not a known user/],
    ['malformed user id', { users: [{ userId: 'abc' }] }, /body\/users\/0\/userId must match format "uuid"/],
    ['malformed email', { users: [{ email: 'not-an-email' }] }, /body\/users\/0\/email must match format "email"/],
    ['unknown property', { users: [{ email: 'z@example.com', admin: true }] }, /body\/users\/0\/admin is not an allowed property/],
    ['bad group slug', { users: [{ email: 'z@example.com', groups: ['Not OK'] }] }, /body\/users\/0\/groups\/0/]
  ]
  for (const [name, payload, message] of cases) {
    const res = await ctx.app.inject({ method: 'POST', url, headers: bearer(owner.token), payload: payload as object })
    t.equal(res.statusCode, 400, name)
    t.match(res.json(), { error: 'ValidationError', message, details: Array }, name)
  }
  const count = await ctx.app.db.selectFrom('org_memberships').select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', owner.orgId).executeTakeFirstOrThrow()
  t.equal(Number(count.n), 1, 'only the owner')
})

t.test('1,000 entries in one request, in one transaction', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const tag = randomUUID().slice(0, 8)
  const users = Array.from({ length: 1000 }, (_, i) => ({ email: `bulk${i}-${tag}@example.com`, groups: [i % 2 === 0 ? 'even' : 'odd'] }))
  const res = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users } })
  t.equal(res.statusCode, 201)
  t.equal(res.json().length, 1000)
  t.equal(res.json()[999].inviteEmail, `bulk999-${tag}@example.com`, 'in request order')
})

t.test('invitations: linked on first sign-in with the email; resend and revoke; expired ones are not linked', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const email = `invitee-${randomUUID()}@example.com`
  const expiredEmail = `late-${randomUUID()}@example.com`
  const url = `/v2/orgs/${owner.slug}/members`
  const added = await ctx.app.inject({ method: 'POST', url, headers: bearer(owner.token), payload: { users: [{ email, roleSlug: 'admin' }, { email: expiredEmail }] } })
  const [invite, late] = added.json()
  await ctx.app.db.updateTable('org_memberships').set({ invite_expires_at: '2020-01-01T00:00:00Z' }).where('user_id', '=', late.userId).execute()

  const resent = await ctx.app.inject({ method: 'POST', url: `${url}/${invite.userId}/invite`, headers: bearer(owner.token) })
  t.equal(resent.statusCode, 200)
  t.match(resent.json(), { status: 'invited', inviteToken: String })
  t.not(resent.json().inviteToken, invite.inviteToken)

  const sub = `invitee-${randomUUID()}`
  const token = ctx.token({ sub, email: email.toUpperCase() })
  const mine = await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(token) })
  t.same(mine.json().results.map((o: { slug: string }) => o.slug), [owner.slug], 'the invitee is a member now')
  const member = await ctx.app.inject({ method: 'GET', url: `${url}/${invite.userId}`, headers: bearer(owner.token) })
  t.match(member.json(), { userId: invite.userId, status: 'active', joinedVia: 'invite-email', joinedAt: String, roleSlug: 'admin' })
  const notPending = await ctx.app.inject({ method: 'POST', url: `${url}/${invite.userId}/invite`, headers: bearer(owner.token) })
  t.equal(notPending.statusCode, 409)
  t.equal(notPending.json().error, 'ConflictError')

  await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(ctx.token({ email: expiredEmail })) })
  const lateMember = await ctx.app.inject({ method: 'GET', url: `${url}/${late.userId}`, headers: bearer(owner.token) })
  t.equal(lateMember.json().status, 'invited', 'an expired invitation is not accepted')

  const revoked = await ctx.app.inject({ method: 'DELETE', url: `${url}/${late.userId}`, headers: bearer(owner.token) })
  t.equal(revoked.statusCode, 200)
  t.equal((await ctx.app.inject({ method: 'GET', url: `${url}/${late.userId}`, headers: bearer(owner.token) })).statusCode, 404)
})

t.test('concurrent adds of the same people never make two memberships', { skip: !onPostgres && 'PGlite has one session: requests cannot overlap in the database' }, async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const tag = randomUUID().slice(0, 8)
  const emails = Array.from({ length: 30 }, (_, i) => `race${i}-${tag}@example.com`)
  const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => ctx.app.inject({
    method: 'POST',
    url: `/v2/orgs/${owner.slug}/members`,
    headers: bearer(owner.token),
    payload: { users: (i % 2 === 0 ? emails : [...emails].reverse()).map((email) => ({ email, groups: ['g'] })), skipExisting: true }
  })))
  t.same([...new Set(responses.map((r) => r.statusCode))], [201])
  t.equal(responses.reduce((n, r) => n + r.json().length, 0), 30, 'each person created exactly once')
  const count = await ctx.app.db.selectFrom('org_memberships').select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', owner.orgId).executeTakeFirstOrThrow()
  t.equal(Number(count.n), 31)
})

t.test('a default role removed behind the service: the add is refused with 409 and writes nothing', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  // What a concurrent role change could leave for an instant; made here directly in the database.
  await ctx.app.db.insertInto('org_roles').values({ org_id: owner.orgId, slug: 'fleeting', name: 'Fleeting', permissions: sql`'{}'::text[]` as any, scopes: sql`'{}'::text[]` as any }).execute()
  await ctx.app.db.updateTable('organizations').set({ default_role: 'fleeting' }).where('id', '=', owner.orgId).execute()
  await ctx.app.db.deleteFrom('org_roles').where('org_id', '=', owner.orgId).where('slug', '=', 'fleeting').execute()
  const email = `gone-${randomUUID()}@example.com`
  const res = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users: [{ email }] } })
  t.equal(res.statusCode, 409)
  t.match(res.json(), { error: 'ConflictError', message: /removed meanwhile/ })
  const users = await ctx.app.db.selectFrom('users').select('id').where('email', '=', email).execute()
  t.same(users, [], 'the pending user was rolled back with the rest')
})
