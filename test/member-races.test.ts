// Concurrent writes to one org's memberships: overlapping bulk adds without skipExisting, and
// removals racing re-adds of the same users. Every answer is a documented status (never a 500
// from a deadlock or a unique violation) and the end state is consistent with the audit trail.
// On PostgreSQL the requests really overlap in the database; the embedded database has one
// session, so there they run one transaction at a time and the same outcomes must hold.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { bearer, buildTestApp, databaseName, ownerWithOrg, type TestApp } from './helper.ts'

t.comment(`database: ${databaseName}`)

/** Users who have signed in before (they have a sub), inserted directly. */
async function signedInUsers (ctx: TestApp, n: number): Promise<Array<{ id: string, email: string }>> {
  return await ctx.app.db.insertInto('users')
    .values(Array.from({ length: n }, () => { const sub = `race-${randomUUID()}`; return { sub, email: `${sub}@example.com`, status: 'active' as const } }))
    .returning(['id', 'email']).execute() as Array<{ id: string, email: string }>
}

async function membershipsByUser (ctx: TestApp, orgId: string): Promise<Map<string, number>> {
  const rows = await ctx.app.db.selectFrom('org_memberships').select(['user_id', (eb) => eb.fn.countAll<number>().as('n')])
    .where('org_id', '=', orgId).groupBy('user_id').execute()
  return new Map(rows.map((r) => [r.user_id, Number(r.n)]))
}

async function auditOf (ctx: TestApp, orgId: string, action: string): Promise<Array<{ created?: number, removed?: number, userIds: string[] }>> {
  const rows = await ctx.app.db.selectFrom('audit_events').select('metadata').where('org_id', '=', orgId).where('action', '=', action).execute()
  return rows.map((r) => r.metadata as { userIds: string[] })
}

t.test('overlapping bulk adds of the same people in opposite orders, without skipExisting: one 201, the rest 409', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const known = await signedInUsers(ctx, 10)
  const tag = randomUUID().slice(0, 8)
  const entries = [
    ...known.map((u) => ({ userId: u.id })),
    ...Array.from({ length: 20 }, (_, i) => ({ email: `race${i}-${tag}@example.com` }))
  ].map((e) => ({ ...e, groups: ['g'] }))
  const responses = await Promise.all(Array.from({ length: 20 }, async (_, i) => await ctx.app.inject({
    method: 'POST',
    url: `/v2/orgs/${owner.slug}/members`,
    headers: bearer(owner.token),
    payload: { users: i % 2 === 0 ? entries : [...entries].reverse() }
  })))

  const statuses = responses.map((r) => r.statusCode)
  t.same(statuses.filter((s) => s !== 201 && s !== 409), [], 'every answer is 201 or 409')
  // A 201 without skipExisting adds all 30, so a second 201 would mean duplicates.
  t.equal(statuses.filter((s) => s === 201).length, 1, 'exactly one request added them')
  const winner = responses.find((r) => r.statusCode === 201)
  t.equal(winner?.json().length, 30)
  for (const r of responses.filter((r) => r.statusCode === 409)) {
    const body = r.json()
    t.match(body, { error: 'ConflictError', message: /already members/, conflicts: Array, requestId: String })
    t.ok(body.conflicts.length > 0 && body.conflicts.every((c: { index: number }) => Number.isInteger(c.index) && c.index >= 0 && c.index < 30),
      'the conflicts name entries of the request')
  }

  const members = await membershipsByUser(ctx, owner.orgId)
  t.equal(members.size, 31, 'the owner and the 30 people')
  t.same([...new Set(members.values())], [1], 'one membership each')
  const pending = await ctx.app.db.selectFrom('users').select('id').where('email', 'like', `race%-${tag}@example.com`).execute()
  t.equal(pending.length, 20, 'one pending user per new email, none left over by the losers')
  const grouped = await ctx.app.db.selectFrom('org_group_members').select('user_id').where('org_id', '=', owner.orgId).execute()
  t.equal(grouped.length, 30, 'each person once in the group')
  t.same((await auditOf(ctx, owner.orgId, 'members.added')).map((m) => m.created), [30], 'one audit event, from the one writer')
})

t.test('removals racing re-adds and updates of the same users leave a state that matches the audit trail', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const url = `/v2/orgs/${owner.slug}/members`
  const headers = bearer(owner.token)
  // Signed-in users (re-added active) and invitees (re-added as pending invitations).
  const known = await signedInUsers(ctx, 5)
  const invited = await ctx.app.inject({ method: 'POST', url, headers, payload: { users: Array.from({ length: 5 }, () => ({ email: `inv-${randomUUID()}@example.com`, groups: ['g'] })) } })
  t.equal(invited.statusCode, 201)
  const first = await ctx.app.inject({ method: 'POST', url, headers, payload: { users: known.map((u) => ({ userId: u.id, groups: ['g'] })) } })
  t.equal(first.statusCode, 201)
  const ids = [...known.map((u) => u.id), ...invited.json().map((m: { userId: string }) => m.userId)]

  const addedByResponses = new Map(ids.map((id) => [id, 0]))
  const unexpected: string[] = []
  for (let round = 0; round < 6; round++) {
    const calls: Array<{ expect: number[], run: Promise<{ statusCode: number, json: () => any }> }> = []
    for (const [i, id] of ids.entries()) {
      const remove = { expect: [200, 404], run: ctx.app.inject({ method: 'DELETE', url: `${url}/${id}`, headers }) }
      const add = { expect: [201, 409], run: ctx.app.inject({ method: 'POST', url, headers, payload: { users: [{ userId: id, groups: ['g'] }] } }) }
      // A write that answers with the member it wrote, racing the removal of that member.
      const touch = i < known.length
        ? { expect: [200, 404], run: ctx.app.inject({ method: 'PATCH', url: `${url}/${id}`, headers, payload: { roleSlug: round % 2 === 0 ? 'admin' : 'member' } }) }
        : { expect: [200, 404], run: ctx.app.inject({ method: 'POST', url: `${url}/${id}/invite`, headers }) }
      calls.push(...((i + round) % 2 === 0 ? [remove, touch, add] : [add, touch, remove]))
    }
    const reversed = [...ids].reverse()
    calls.push(round % 2 === 0
      ? { expect: [200], run: ctx.app.inject({ method: 'DELETE', url, headers, payload: { userIds: reversed } }) }
      : { expect: [201], run: ctx.app.inject({ method: 'POST', url, headers, payload: { users: reversed.map((id) => ({ userId: id, groups: ['g'] })), skipExisting: true } }) })
    const results = await Promise.all(calls.map(async (c) => await c.run))
    results.forEach((res, k) => {
      const call = calls[k]!
      if (!call.expect.includes(res.statusCode)) unexpected.push(`round ${round} call ${k}: ${res.statusCode} ${JSON.stringify(res.json())}`)
      if (res.statusCode === 201) {
        for (const m of res.json() as Array<{ userId: string }>) addedByResponses.set(m.userId, addedByResponses.get(m.userId)! + 1)
      }
    })
  }
  t.same(unexpected, [], 'every answer is one the operation documents for the situation')

  const members = await membershipsByUser(ctx, owner.orgId)
  t.same([...new Set(members.values())], [1], 'nobody is a member twice')
  const ownerUser = await ctx.app.db.selectFrom('users').select('id').where('sub', '=', owner.sub).executeTakeFirstOrThrow()
  t.equal(members.get(ownerUser.id), 1, 'the owner is untouched')
  const grouped = await ctx.app.db.selectFrom('org_group_members').select('user_id').where('org_id', '=', owner.orgId).execute()
  t.same(grouped.map((g) => g.user_id).sort(), ids.filter((id) => members.has(id)).sort(),
    'the group holds exactly the current members: no orphan for a removed user, none lost by a re-added one')

  const added = await auditOf(ctx, owner.orgId, 'members.added')
  const removed = await auditOf(ctx, owner.orgId, 'members.removed')
  const count = (events: Array<{ userIds: string[] }>, id: string) => events.filter((e) => e.userIds.includes(id)).length
  for (const id of ids) {
    t.equal(count(added, id) - 1, addedByResponses.get(id), `${id}: one added event per successful add (besides the first)`)
    t.equal(count(added, id) - count(removed, id), members.has(id) ? 1 : 0, `${id}: adds minus removals in the audit trail is the end state`)
  }
})

t.test('adding members to a group while they are removed leaves no group row without a membership', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const users = await signedInUsers(ctx, 20)
  const group = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/groups`, headers: bearer(owner.token), payload: { slug: 'racers', name: 'Racers' } })
  t.equal(group.statusCode, 201)
  const added = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users: users.map((u) => ({ userId: u.id })) } })
  t.equal(added.statusCode, 201)

  const answers = await Promise.all(users.flatMap((u) => [
    ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/groups/racers/members`, headers: bearer(owner.token), payload: { userIds: [u.id] } }),
    ctx.app.inject({ method: 'DELETE', url: `/v2/orgs/${owner.slug}/members/${u.id}`, headers: bearer(owner.token) })
  ]))
  for (const res of answers) t.ok([200, 201, 400].includes(res.statusCode), `${res.statusCode} ${res.statusCode >= 400 ? res.body : ''}`)

  const orphans = await ctx.app.db.selectFrom('org_group_members as gm')
    .leftJoin('org_memberships as m', (join) => join.onRef('m.org_id', '=', 'gm.org_id').onRef('m.user_id', '=', 'gm.user_id'))
    .select('gm.user_id').where('gm.org_id', '=', owner.orgId).where('m.id', 'is', null).execute()
  t.same(orphans, [], 'every group row belongs to a membership')

  // Re-added, each comes back without the groups of the membership that was removed.
  const again = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: bearer(owner.token), payload: { users: users.map((u) => ({ userId: u.id })) } })
  t.equal(again.statusCode, 201)
  t.same(again.json().map((m: { groups: string[] }) => m.groups), users.map(() => []))
})
