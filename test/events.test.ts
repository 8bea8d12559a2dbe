// The outbox and the event feed: every change writes its events in its own transaction, in
// seq order per org, with the object the API answered as `data`.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { bearer, buildTestApp, ownerWithOrg, type TestApp } from './helper.ts'

async function events (ctx: TestApp, slug: string, token: string, query = '') {
  const res = await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${slug}/events${query}`, headers: bearer(token) })
  if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`)
  return res.json() as { results: any[], nextCursor: string | null }
}

async function signIn (ctx: TestApp) {
  const sub = `u-${randomUUID()}`
  const token = ctx.token({ sub, email: `${sub}@example.com` })
  await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(token) })
  const user = await ctx.app.db.selectFrom('users').select('id').where('sub', '=', sub).executeTakeFirstOrThrow()
  return { token, userId: user.id, sub, email: `${sub}@example.com` }
}

t.test('add, update, remove, invite, accept: the documented events with the API objects as data', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const known = await signIn(ctx)
  const inviteeSub = `i-${randomUUID()}`
  const inviteeEmail = `${inviteeSub}@example.com`
  const added = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users: [{ userId: known.userId, groups: ['eng'] }, { email: inviteeEmail }] } })
  t.equal(added.statusCode, 201)
  const [member, invite] = added.json()
  const patched = await ctx.app.inject({ method: 'PATCH', url: `/v2/orgs/${owner.slug}/members/${known.userId}`, headers: bearer(owner.token), payload: { roleSlug: 'admin' } })
  // The invitee signs in with the invited email: the invitation is accepted.
  await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(ctx.token({ sub: inviteeSub, email: inviteeEmail, email_verified: true })) })
  const accepted = await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/members/${invite.userId}`, headers: bearer(owner.token) })
  t.equal(accepted.json().status, 'active')
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `/v2/orgs/${owner.slug}/members/${known.userId}`, headers: bearer(owner.token) })).statusCode, 200)

  const feed = await events(ctx, owner.slug, owner.token)
  t.same(feed.results.map((e) => e.type), ['organization.created', 'group.created', 'membership.created', 'invitation.created', 'group_membership.added', 'membership.updated', 'invitation.accepted', 'membership.deleted'])
  t.same(feed.results.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8], 'seq counts the org events from 1 without gaps')
  const { inviteToken, ...inviteData } = invite
  t.ok(inviteToken, 'the add answered the invite token')
  t.match(feed.results[1].data, { orgSlug: owner.slug, slug: 'eng', memberCount: 0 }, 'the group the add created')
  t.same(feed.results[2].data, member, 'membership.created carries the membership the add answered')
  t.same(feed.results[3].data, inviteData, 'invitation.created carries it too, without the token')
  t.same(feed.results[4].data, { orgSlug: owner.slug, groupSlug: 'eng', userId: known.userId })
  t.same(feed.results[5].data, patched.json())
  t.same(feed.results[6].data, { ...accepted.json(), groups: [] })
  t.match(feed.results[7].data, { userId: known.userId, roleSlug: 'admin', status: 'active' })
  for (const e of feed.results) {
    t.match(e, { id: String, timestamp: /Z$/, orgId: owner.orgId, orgSlug: owner.slug, actor: { type: 'user' } })
    t.notMatch(JSON.stringify(e), /inviteToken|invite_token|secret|hash/i, 'no token, secret or hash in an event')
  }
  t.equal(feed.results[6].actor.id, invite.userId, 'the invitee accepted')

  // Paging by `after`, and the type filter.
  const first = await events(ctx, owner.slug, owner.token, '?limit=4')
  t.equal(first.results.length, 4)
  t.equal(first.nextCursor, first.results[3].id)
  const rest = await events(ctx, owner.slug, owner.token, `?after=${first.nextCursor}`)
  t.same(rest.results.map((e) => e.seq), [5, 6, 7, 8])
  t.equal(rest.nextCursor, null)
  const deletes = await events(ctx, owner.slug, owner.token, '?types=membership.deleted,invitation.created')
  t.same(deletes.results.map((e) => e.type), ['invitation.created', 'membership.deleted'])
  for (const q of ['?types=nope', `?after=${randomUUID()}`, '?after=x', '?limit=0']) {
    const res = await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/events${q}`, headers: bearer(owner.token) })
    t.equal(res.statusCode, 400, q)
    t.equal(res.json().error, 'ValidationError')
  }
})

t.test('a change that rolls back emits nothing; a bulk add of N emits N', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const people = await Promise.all([1, 2, 3].map(() => signIn(ctx)))
  const url = `/v2/orgs/${owner.slug}/members`
  t.equal((await ctx.app.inject({ method: 'POST', url, headers: bearer(owner.token), payload: { users: [{ userId: people[0]!.userId }] } })).statusCode, 201)
  const before = await ctx.app.db.selectFrom('org_events').select(['seq']).where('org_id', '=', owner.orgId).execute()
  // A 409 (an existing member, without skipExisting) rolls the whole add back.
  const conflict = await ctx.app.inject({ method: 'POST', url, headers: bearer(owner.token), payload: { users: people.map((p) => ({ userId: p.userId })) } })
  t.equal(conflict.statusCode, 409)
  t.same(await ctx.app.db.selectFrom('org_events').select(['seq']).where('org_id', '=', owner.orgId).execute(), before, 'no event from the rolled-back add')
  const emails = Array.from({ length: 25 }, (_, i) => ({ email: `bulk-${i}-${randomUUID()}@example.com` }))
  const bulk = await ctx.app.inject({ method: 'POST', url, headers: bearer(owner.token), payload: { users: [...people.slice(1).map((p) => ({ userId: p.userId })), ...emails] } })
  t.equal(bulk.statusCode, 201)
  const feed = await events(ctx, owner.slug, owner.token, '?limit=100')
  t.same(feed.results.map((e) => e.seq), Array.from({ length: 29 }, (_, i) => i + 1), 'the rolled-back add used no seq')
  t.equal(feed.results.filter((e) => e.type === 'membership.created').length, 3)
  t.equal(feed.results.filter((e) => e.type === 'invitation.created').length, 25)
  t.same(feed.results.slice(2).map((e) => e.data.userId), bulk.json().map((m: any) => m.userId), 'in the order the add answered')
})

t.test('the built-in admin role reads events and manages webhooks; a member does neither', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const roles = (await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/roles`, headers: bearer(owner.token) })).json().results
  t.match(roles.find((r: any) => r.slug === 'admin').permissions, ['orgs:read', 'orgs:members:read', 'orgs:members:manage', 'orgs:roles:manage', 'orgs:apikeys:manage', 'orgs:invites:manage', 'orgs:webhooks:manage', 'orgs:events:read'])
  for (const [roleSlug, status] of [['admin', 200], ['member', 403]] as const) {
    const person = await signIn(ctx)
    await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users: [{ userId: person.userId, roleSlug }] } })
    t.equal((await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/events`, headers: bearer(person.token) })).statusCode, status, `${roleSlug} reads events`)
    t.equal((await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/webhooks`, headers: bearer(person.token) })).statusCode, status, `${roleSlug} lists webhooks`)
  }
})

t.test('group membership changes: group_membership.* per user, and the member as it now is', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const person = await signIn(ctx)
  const base = `/v2/orgs/${owner.slug}`
  await ctx.app.inject({ method: 'POST', url: `${base}/members`, headers: bearer(owner.token), payload: { users: [{ userId: person.userId }] } })
  await ctx.app.inject({ method: 'POST', url: `${base}/groups`, headers: bearer(owner.token), payload: { slug: 'ops', name: 'Ops' } })
  t.equal((await ctx.app.inject({ method: 'POST', url: `${base}/groups/ops/members`, headers: bearer(owner.token), payload: { userIds: [person.userId] } })).statusCode, 201)
  // Adding someone already in the group changes nothing, so it emits nothing.
  t.equal((await ctx.app.inject({ method: 'POST', url: `${base}/groups/ops/members`, headers: bearer(owner.token), payload: { userIds: [person.userId] } })).statusCode, 201)
  t.equal((await ctx.app.inject({ method: 'DELETE', url: `${base}/groups/ops/members`, headers: bearer(owner.token), payload: { userIds: [person.userId] } })).statusCode, 200)
  const feed = (await events(ctx, owner.slug, owner.token)).results.slice(2)
  t.same(feed.map((e) => e.type), ['group.created', 'group_membership.added', 'membership.updated', 'group_membership.removed', 'membership.updated'])
  t.same(feed[1].data, { orgSlug: owner.slug, groupSlug: 'ops', userId: person.userId })
  t.match(feed[2].data, { userId: person.userId, groups: ['ops'] })
  t.match(feed[4].data, { userId: person.userId, groups: [] })
})

t.test('groups an add or an import creates: one group.created each, before the events of the write', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const person = await signIn(ctx)
  const base = `/v2/orgs/${owner.slug}`
  const group = async (slug: string) => (await ctx.app.inject({ method: 'GET', url: `${base}/groups/${slug}`, headers: bearer(owner.token) })).json()
  const inviteeEmail = `g-${randomUUID()}@example.com`
  const added = await ctx.app.inject({ method: 'POST', url: `${base}/members`, headers: bearer(owner.token), payload: { users: [{ userId: person.userId, groups: ['eng', 'ops'] }, { email: inviteeEmail, groups: ['eng'] }] } })
  t.equal(added.statusCode, 201)
  const invitee = added.json()[1]
  let feed = (await events(ctx, owner.slug, owner.token)).results.slice(1)
  t.same(feed.map((e) => e.type), ['group.created', 'group.created', 'membership.created', 'invitation.created', 'group_membership.added', 'group_membership.added', 'group_membership.added'], 'the groups first, then the memberships, then who joined which')
  // The group as the groups API answers it, as it was created (no members yet).
  t.same(feed.slice(0, 2).map((e) => e.data), [{ ...(await group('eng')), memberCount: 0 }, { ...(await group('ops')), memberCount: 0 }])
  t.same(feed.slice(4).map((e) => e.data), [
    { orgSlug: owner.slug, groupSlug: 'eng', userId: person.userId },
    { orgSlug: owner.slug, groupSlug: 'ops', userId: person.userId },
    { orgSlug: owner.slug, groupSlug: 'eng', userId: invitee.userId }
  ])
  t.ok(feed.every((e) => e.actor.type === 'user' && e.actor.id === feed[0].actor.id), 'one actor: the one who added')

  // An add naming an existing group and a new one: group.created for the new one only.
  const other = await signIn(ctx)
  t.equal((await ctx.app.inject({ method: 'POST', url: `${base}/members`, headers: bearer(owner.token), payload: { users: [{ userId: other.userId, groups: ['eng', 'sales'] }] } })).statusCode, 201)
  const before = feed.length + 1
  feed = (await events(ctx, owner.slug, owner.token)).results.slice(before)
  t.same(feed.map((e) => [e.type, e.data.slug ?? e.data.groupSlug ?? null]), [
    ['group.created', 'sales'], ['membership.created', null], ['group_membership.added', 'eng'], ['group_membership.added', 'sales']
  ])

  // An import: a new group once, however many lines name it; none for an existing one.
  const a = `ia-${randomUUID()}@example.com`
  const b = `ib-${randomUUID()}@example.com`
  const imported = await ctx.app.inject({ method: 'POST', url: `${base}/members/import`, headers: { ...bearer(owner.token), 'content-type': 'text/csv' }, payload: `email,groups\r\n${a},eng;imported\r\n${b},imported\r\n` })
  t.equal(imported.statusCode, 200)
  t.match(imported.json(), { created: 2, failedCount: 0 })
  const all = (await events(ctx, owner.slug, owner.token)).results
  feed = all.slice(before + 4)
  t.same(feed.map((e) => [e.type, e.data.slug ?? e.data.groupSlug ?? null]), [
    ['group.created', 'imported'], ['invitation.created', null], ['invitation.created', null],
    ['group_membership.added', 'eng'], ['group_membership.added', 'imported'], ['group_membership.added', 'imported'], ['members.imported', null]
  ])
  t.same(feed[0].data, { ...(await group('imported')), memberCount: 0 })
  t.match(feed[1].data, { email: a, groups: ['eng', 'imported'] })
  const created = all.filter((e) => e.type === 'group.created').map((e) => e.data.slug)
  t.same(created, ['eng', 'ops', 'sales', 'imported'], 'exactly one group.created per group')
  t.same(all.map((e) => e.seq), Array.from({ length: all.length }, (_, i) => i + 1))

  // A dry run that would create a group emits nothing.
  const dry = await ctx.app.inject({ method: 'POST', url: `${base}/members/import?dryRun=true`, headers: { ...bearer(owner.token), 'content-type': 'text/csv' }, payload: `email,groups\r\nd-${randomUUID()}@example.com,dry\r\n` })
  t.equal(dry.statusCode, 200)
  t.equal((await events(ctx, owner.slug, owner.token)).results.length, all.length)
})
