import { randomUUID } from 'node:crypto'
import t from 'tap'
import { bearer, buildTestApp, databaseName, ownerWithOrg } from './helper.ts'
import { exportJson } from './admin-helper.ts'

t.comment(`database: ${databaseName}`)

t.test('just-in-time users: created, refreshed and linked are audited with the user as actor', async (t) => {
  const ctx = await buildTestApp(t)
  const sub = `jit-${randomUUID()}`
  const first = await ctx.app.inject({ url: '/v2/orgs', headers: { ...bearer(ctx.token({ sub, name: 'Ann One' })), 'x-request-id': 'req-jit-1' } })
  t.equal(first.statusCode, 200)
  const user = await ctx.app.db.selectFrom('users').select('id').where('sub', '=', sub).executeTakeFirstOrThrow()
  const events = async () => await ctx.app.db.selectFrom('audit_events').selectAll().where('target_id', '=', user.id).orderBy('created_at').execute()
  t.match(await events(), [{ action: 'user.created', actor_id: user.id, actor_kind: 'user', org_id: null, target_type: 'user', request_id: 'req-jit-1' }])

  // The same claims again change nothing and write nothing; a new name is one user.updated.
  await ctx.app.inject({ url: '/v2/orgs', headers: bearer(ctx.token({ sub, name: 'Ann One' })) })
  t.equal((await events()).length, 1)
  await ctx.app.inject({ url: '/v2/orgs', headers: { ...bearer(ctx.token({ sub, name: 'Ann Two' })), 'x-request-id': 'req-jit-2' } })
  const after = await events()
  t.equal(after.length, 2)
  t.match(after[1], { action: 'user.updated', request_id: 'req-jit-2', metadata: { fields: ['full_name'], via: 'jwt' } })
})

t.test('an invited person signing in: user.linked, and member.joined in the org, shown by the audit export', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const email = `invitee-${randomUUID()}@example.com`
  const pending = await ctx.app.db.insertInto('users').values({ email, status: 'pending' }).returning('id').executeTakeFirstOrThrow()
  await ctx.app.db.insertInto('org_memberships').values({ org_id: owner.orgId, user_id: pending.id, role_slug: 'member', status: 'invited', invite_email: email }).execute()

  const signIn = await ctx.app.inject({ url: '/v2/orgs', headers: { ...bearer(ctx.token({ sub: `invitee-${randomUUID()}`, email })), 'x-request-id': 'req-link' } })
  t.equal(signIn.statusCode, 200)
  t.equal(signIn.json().results[0]?.id, owner.orgId, 'now a member')

  const audit = await exportJson(ctx, `audit?organizationId=${owner.orgId}`)
  t.equal(audit.status, 200)
  t.match(audit.json.data[0], {
    action: 'member.joined',
    org_id: owner.orgId,
    actor_id: pending.id,
    actor_kind: 'user',
    target_type: 'user',
    target_id: pending.id,
    request_id: 'req-link',
    metadata: { via: 'invite-email', roleSlug: 'member' },
    created_at: String
  })
  const linked = await ctx.app.db.selectFrom('audit_events').selectAll().where('action', '=', 'user.linked').where('target_id', '=', pending.id).execute()
  t.match(linked, [{ org_id: null, request_id: 'req-link', metadata: { orgs: 1 } }])
})
