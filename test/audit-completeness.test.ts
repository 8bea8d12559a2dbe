// Every mutation of the service, and every export, is one audit event with actor, credential
// kind, org, action, target, request id and time, and the org's audit export shows it. The
// list of operations is checked against the spec: a new mutating operation fails this test
// until it is added here (and audited).
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { routes } from '../generated/routes.ts'
import { bearer, buildTestApp, databaseName, randomSlug } from './helper.ts'
import { auditEvent, exportJson, platform } from './admin-helper.ts'

t.comment(`database: ${databaseName}`)

interface Step { op: string, method: string, url: string, payload?: object, csv?: string, key?: boolean, orgless?: boolean }

t.test('every mutation and every export writes one audit event the audit export shows', async (t) => {
  const ctx = await buildTestApp(t)
  const sub = `auditor-${randomUUID()}`
  const token = ctx.token({ sub, email: `${sub}@example.com`, permissions: ['*'] })
  const slug = randomSlug()
  const steps: Step[] = []
  const calls = new Map<string, { requestId: string, body: any, status: number }>()
  let apiKey = ''
  const call = async (step: Step) => {
    const requestId = `req-${step.op}-${randomUUID()}`
    const headers = { ...(step.key ? { 'x-api-key': apiKey } : bearer(token)), 'x-request-id': requestId }
    const res = await ctx.app.inject({
      method: step.method as 'GET',
      url: step.url,
      headers: { ...headers, ...(step.csv !== undefined ? { 'content-type': 'text/csv' } : {}) },
      ...(step.payload ? { payload: step.payload } : {}),
      ...(step.csv !== undefined ? { payload: step.csv } : {})
    })
    t.ok(res.statusCode < 300, `${step.op}: ${res.statusCode} ${res.statusCode >= 300 ? res.body : ''}`)
    const body = res.headers['content-type']?.toString().startsWith('application/json') ? res.json() : res.body
    calls.set(step.op, { requestId, body, status: res.statusCode })
    steps.push(step)
    // Exports record their event once the download ended: wait for it, so events keep the order of the steps.
    const exported = step.op === 'exportOrgMembers' ? 'members' : step.op.startsWith('export') ? step.op.slice(6).toLowerCase() : undefined
    if (exported !== undefined) await auditEvent(ctx, `${exported}.exported`, requestId)
    if (step.op === 'importOrgMembers') await auditEvent(ctx, 'members.imported', requestId)
    return body
  }
  const v2 = `/v2/orgs/${slug}`
  // The caller's user exists first, so its user.created is not part of the first step.
  await ctx.app.inject({ url: '/v2/orgs', headers: bearer(token) })
  const org = await call({ op: 'createOrganization', method: 'POST', url: '/v2/orgs', payload: { name: 'Audited', slug } })
  const other = ctx.token({ sub: `other-${randomUUID()}` })
  await ctx.app.inject({ url: '/v2/orgs', headers: bearer(other) })
  const otherUser = await ctx.app.db.selectFrom('users').select('id').where('sub', 'like', 'other-%').orderBy('created_at', 'desc').executeTakeFirstOrThrow()
  await call({ op: 'updateOrganization', method: 'PATCH', url: v2, payload: { description: 'x' } })
  await call({ op: 'createOrgRole', method: 'POST', url: `${v2}/roles`, payload: { slug: 'auditor', name: 'Auditor', permissions: ['orgs:read'] } })
  await call({ op: 'updateOrgRole', method: 'PATCH', url: `${v2}/roles/auditor`, payload: { name: 'Auditors' } })
  await call({ op: 'createOrgGroup', method: 'POST', url: `${v2}/groups`, payload: { slug: 'eng', name: 'Eng' } })
  await call({ op: 'updateOrgGroup', method: 'PATCH', url: `${v2}/groups/eng`, payload: { name: 'Engineering' } })
  const added = await call({ op: 'addOrgMembers', method: 'POST', url: `${v2}/members`, payload: { users: [{ userId: otherUser.id }, { email: `invitee-${randomUUID()}@example.com` }] } })
  const invitedId = added.find((m: { status: string }) => m.status === 'invited').userId
  await call({ op: 'importOrgMembers', method: 'POST', url: `${v2}/members/import`, csv: `email\r\nimported-${randomUUID()}@example.com\r\n` })
  await call({ op: 'addOrgGroupMembers', method: 'POST', url: `${v2}/groups/eng/members`, payload: { userIds: [otherUser.id] } })
  await call({ op: 'removeOrgGroupMembers', method: 'DELETE', url: `${v2}/groups/eng/members`, payload: { userIds: [otherUser.id] } })
  await call({ op: 'updateOrgMember', method: 'PATCH', url: `${v2}/members/${otherUser.id}`, payload: { roleSlug: 'auditor' } })
  await call({ op: 'resendOrgMemberInvite', method: 'POST', url: `${v2}/members/${invitedId}/invite` })
  await call({ op: 'removeOrgMember', method: 'DELETE', url: `${v2}/members/${invitedId}` })
  await call({ op: 'removeOrgMembers', method: 'DELETE', url: `${v2}/members`, payload: { userIds: [otherUser.id] } })
  await call({ op: 'deleteOrgRole', method: 'DELETE', url: `${v2}/roles/auditor` })
  await call({ op: 'deleteOrgGroup', method: 'DELETE', url: `${v2}/groups/eng` })
  const key = await call({ op: 'createOrgApiKey', method: 'POST', url: `${v2}/api-keys`, payload: { slug: 'exporter', name: 'Exporter', permissions: ['orgs:members:read'] } })
  await call({ op: 'updateOrgApiKey', method: 'PATCH', url: `${v2}/api-keys/${key.id}`, payload: { name: 'Exporter 2' } })
  apiKey = (await call({ op: 'rotateOrgApiKey', method: 'POST', url: `${v2}/api-keys/${key.id}/rotate`, payload: {} })).apiKey
  await call({ op: 'exportOrgMembers', method: 'POST', url: `${v2}/members/export`, key: true })
  await call({ op: 'deleteOrgApiKey', method: 'DELETE', url: `${v2}/api-keys/${key.id}` })
  const hook = await call({ op: 'createOrgWebhook', method: 'POST', url: `${v2}/webhooks`, payload: { url: 'https://hooks.invalid/audited' } })
  await call({ op: 'updateOrgWebhook', method: 'PATCH', url: `${v2}/webhooks/${hook.id}`, payload: { description: 'Audited' } })
  await call({ op: 'rotateOrgWebhookSecret', method: 'POST', url: `${v2}/webhooks/${hook.id}/rotate-secret` })
  const tested = await call({ op: 'testOrgWebhook', method: 'POST', url: `${v2}/webhooks/${hook.id}/test` })
  await call({ op: 'retryOrgWebhookDelivery', method: 'POST', url: `${v2}/webhooks/${hook.id}/deliveries/${tested.id}/retry` })
  await call({ op: 'deleteOrgWebhook', method: 'DELETE', url: `${v2}/webhooks/${hook.id}` })
  const app = await call({ op: 'createApplication', method: 'POST', url: '/api/admin/applications', payload: { slug: randomSlug('app'), name: 'A' }, orgless: true })
  await call({ op: 'createApplicationRole', method: 'POST', url: `/api/admin/applications/${app.id}/roles`, payload: { slug: 'r', name: 'R' }, orgless: true })
  await call({ op: 'createClient', method: 'POST', url: '/api/admin/clients', payload: { organizationId: org.id, name: 'C' } })
  for (const entity of ['users', 'clients', 'audit']) {
    await call({ op: `export${entity[0]!.toUpperCase()}${entity.slice(1)}`, method: 'GET', url: `/api/admin/export/${entity}?organizationId=${org.id}&format=csv` })
  }
  await call({ op: 'exportOrganizations', method: 'GET', url: '/api/admin/export/organizations', orgless: true })
  await call({ op: 'exportRoles', method: 'GET', url: `/api/admin/export/roles?applicationId=${app.id}`, orgless: true })
  await call({ op: 'deleteOrganization', method: 'DELETE', url: v2 })

  // Every mutating operation and every export of the spec is exercised above.
  const covered = new Set(steps.map((s) => s.op))
  const mutating = Object.entries(routes).filter(([id, r]) => r.method !== 'GET' || id.startsWith('export')).map(([id]) => id)
  t.same(mutating.filter((id) => !covered.has(id)), [], 'no mutation or export left out')

  const user = await ctx.app.db.selectFrom('users').select('id').where('sub', '=', sub).executeTakeFirstOrThrow()
  for (const step of steps) {
    const { requestId } = calls.get(step.op)!
    const events = await ctx.app.db.selectFrom('audit_events').selectAll().where('request_id', '=', requestId).execute()
    t.ok(events.length >= 1, `${step.op} is audited`)
    for (const e of events) {
      t.match(e, {
        actor_kind: step.key ? 'apiKey' : 'user',
        actor_id: step.key ? key.id : user.id,
        action: /^[a-z.]+$/,
        org_id: step.orgless ? null : org.id,
        request_id: requestId,
        created_at: /Z$/
      }, `${step.op}: ${e.action}`)
    }
  }

  // The org is gone, but its trail is exportable and shows every org-scoped step.
  const trail = await exportJson(ctx, `audit?organizationId=${org.id}`, platform(ctx))
  t.equal(trail.status, 200)
  const shown = new Set(trail.json.data.map((e: { request_id: string }) => e.request_id))
  const missing = steps.filter((s) => !s.orgless && !shown.has(calls.get(s.op)!.requestId)).map((s) => s.op)
  t.same(missing, [], 'the audit export shows every org-scoped event')
  t.equal(trail.json.data[0].action, 'org.deleted')
})
