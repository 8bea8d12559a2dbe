// Cross-tenant matrix (issue 7): every operation of the spec × five callers. Each cell's status
// is written out in MATRIX (from the spec and DESIGN.md section 4, not from the code); a denial's
// body equals the same caller's denial for an org (or application) that does not exist, so no
// answer tells another tenant that an org exists; no denied call writes anything; a cursor
// minted for one list is refused by every other list; and org A's member, key, group and role
// ids sent through org B's own paths get what an id that does not exist gets.
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import spec from '../generated/openapi.json' with { type: 'json' }
import { routes, type OperationId } from '../generated/routes.ts'
import { bearer, buildTestApp, databaseName, randomSlug, type TestApp } from './helper.ts'
import {
  buildWorld, missingScope, ORG_PERMISSIONS, orgKey, ownerWith, PLATFORM_PERMISSIONS, snapshot, type Scope, type World
} from './tenant-world.ts'

t.comment(`database: ${databaseName}`)

const CALLERS = ['no credential', 'member of another org', 'key of another org', 'key without the permission', 'admin of the org'] as const
type Statuses = [number, number, number, number, number]

interface Call { params?: Record<string, string>, query?: Record<string, string>, body?: object, csv?: string }
interface Row {
  /** What the operation needs, as its spec description says: an org or a platform permission. */
  permission?: string
  statuses: Statuses
  call?: (s: Scope, w: World) => Call
  /** More about the admin's success than its status and the contract check. */
  check?: (t: Test, res: LightMyRequestResponse, w: World) => void
}

// Columns: none, member of another org, key of another org, key without the permission, admin.
const ORG = (permission: string, ok: number, call?: Row['call'], check?: Row['check']): Row =>
  ({ permission, statuses: [401, 404, 404, 403, ok], ...(call ? { call } : {}), ...(check ? { check } : {}) })
const PLATFORM = (permission: string, ok: number, call?: Row['call']): Row =>
  ({ permission, statuses: [401, 403, 401, 401, ok], ...(call ? { call } : {}) })
const OPEN: Row = { statuses: [200, 200, 200, 200, 200] }
const inOrg = (s: Scope) => ({ query: { organizationId: s.orgId } })
const json = (res: LightMyRequestResponse): any => res.json()

const MATRIX: Record<OperationId, Row> = {
  getRoot: { statuses: [302, 302, 302, 302, 302], check: (t, res) => t.equal(res.headers.location, '/docs') },
  getHealth: OPEN,
  getReadiness: OPEN,
  getOpenApiJson: OPEN,
  getOpenApiYaml: { ...OPEN, check: (t, res) => t.match(res.headers['content-type'], /yaml/) },
  // No METRICS_TOKEN here: the metrics are off, whoever asks (test/metrics.test.ts covers the token).
  getMetrics: { statuses: [404, 404, 404, 404, 404] },
  createOrganization: { statuses: [401, 201, 401, 401, 201], call: () => ({ body: { name: 'New org', slug: randomSlug() } }) },
  listOrganizations: { statuses: [401, 200, 401, 401, 200], check: (t, res, w) => t.ok(json(res).results.some((o: any) => o.id === w.orgId)) },
  getOrganization: ORG('orgs:read', 200, undefined, (t, res, w) => t.equal(json(res).id, w.orgId)),
  updateOrganization: ORG('orgs:manage', 200, () => ({ body: { name: 'Renamed' } })),
  deleteOrganization: ORG('orgs:delete', 200),
  addOrgMembers: ORG('orgs:members:manage', 201, () => ({ body: { users: [{ email: `${randomSlug('new')}@example.com` }] } })),
  listOrgMembers: ORG('orgs:members:read', 200, undefined, (t, res, w) => t.ok(json(res).results.some((m: any) => m.userId === w.memberId))),
  removeOrgMembers: ORG('orgs:members:manage', 200, (s, w) => ({ body: { userIds: [w.memberId] } })),
  getOrgMember: ORG('orgs:members:read', 200, undefined, (t, res, w) => t.equal(json(res).userId, w.memberId)),
  updateOrgMember: ORG('orgs:members:manage', 200, () => ({ body: { roleSlug: 'admin' } })),
  removeOrgMember: ORG('orgs:members:manage', 200),
  resendOrgMemberInvite: ORG('orgs:invites:manage', 200, (s, w) => ({ params: { userId: w.invitedId } })),
  createOrgRole: ORG('orgs:roles:manage', 201, () => ({ body: { name: 'New role', slug: randomSlug('role'), permissions: ['orgs:read'] } })),
  listOrgRoles: ORG('orgs:read', 200),
  getOrgRole: ORG('orgs:read', 200),
  updateOrgRole: ORG('orgs:roles:manage', 200, () => ({ body: { name: 'Renamed' } })),
  deleteOrgRole: ORG('orgs:roles:manage', 200),
  createOrgGroup: ORG('orgs:members:manage', 201, () => ({ body: { name: 'New group', slug: randomSlug('group') } })),
  listOrgGroups: ORG('orgs:read', 200),
  getOrgGroup: ORG('orgs:read', 200),
  updateOrgGroup: ORG('orgs:members:manage', 200, () => ({ body: { name: 'Renamed' } })),
  deleteOrgGroup: ORG('orgs:members:manage', 200),
  addOrgGroupMembers: ORG('orgs:members:manage', 201, (s, w) => ({ body: { userIds: [w.invitedId] } })),
  listOrgGroupMembers: ORG('orgs:members:read', 200),
  removeOrgGroupMembers: ORG('orgs:members:manage', 200, (s, w) => ({ body: { userIds: [w.memberId] } })),
  createOrgApiKey: ORG('orgs:apikeys:manage', 201, () => ({ body: { slug: randomSlug('key'), name: 'New key', permissions: ['orgs:read'] } })),
  listOrgApiKeys: ORG('orgs:apikeys:manage', 200),
  getOrgApiKey: ORG('orgs:apikeys:manage', 200),
  updateOrgApiKey: ORG('orgs:apikeys:manage', 200, () => ({ body: { name: 'Renamed' } })),
  deleteOrgApiKey: ORG('orgs:apikeys:manage', 200),
  rotateOrgApiKey: ORG('orgs:apikeys:manage', 200, () => ({ body: {} })),
  exportOrgMembers: ORG('orgs:members:read', 200, undefined, (t, res, w) => {
    t.match(res.headers['content-type'], /^text\/csv/)
    t.match(res.body, /^id,userId,email,/)
    t.ok(res.body.includes(w.memberId), 'the member is in the file')
  }),
  importOrgMembers: ORG('orgs:members:manage', 200, () => ({ csv: `email\r\n${randomSlug('imported')}@example.com\r\n` }),
    (t, res) => t.match(json(res), { created: 1, skipped: 0, failed: [] })),
  // The public list (seed list-org-members-public.md): 404 for whoever does not administer the org.
  listPublicOrgMembers: {
    permission: 'orgs:members:manage',
    statuses: [401, 404, 404, 404, 200],
    check: (t, res, w) => t.ok(json(res).data.length >= 2 && json(res).data.every((m: any) => m.organizationId === w.orgId))
  },
  createApplication: PLATFORM('admin:write', 201, () => ({ body: { slug: randomSlug('app'), name: 'New application' } })),
  listApplications: PLATFORM('role:read', 200),
  createApplicationRole: PLATFORM('admin:write', 201, () => ({ body: { slug: randomSlug('role'), name: 'New role', permissions: ['x:y:z'] } })),
  listApplicationRoles: PLATFORM('role:read', 200),
  createClient: PLATFORM('admin:write', 201, (s) => ({
    body: { organizationId: s.orgId, applicationId: s.applicationId, name: 'New client', redirectUris: ['https://example.com/callback'] }
  })),
  listClients: PLATFORM('client:read', 200, inOrg),
  exportUsers: PLATFORM('user:read', 200, inOrg),
  exportOrganizations: PLATFORM('org:read', 200),
  exportClients: PLATFORM('client:read', 200, inOrg),
  exportRoles: PLATFORM('role:read', 200, (s) => ({ query: { applicationId: s.applicationId } })),
  exportAudit: PLATFORM('audit:read', 200, inOrg),
  listOrgEvents: ORG('orgs:events:read', 200, undefined, (t, res) => t.ok(json(res).results.some((e: any) => e.type === 'invitation.created'))),
  createOrgWebhook: ORG('orgs:webhooks:manage', 201, () => ({ body: { url: 'https://hooks.invalid/new' } }), (t, res) => t.match(json(res).secret, /^whsec_/)),
  listOrgWebhooks: ORG('orgs:webhooks:manage', 200, undefined, (t, res, w) => t.same(json(res).results.map((h: any) => h.id), [w.webhookId])),
  getOrgWebhook: ORG('orgs:webhooks:manage', 200, undefined, (t, res) => t.notOk('secret' in json(res), 'no secret once created')),
  updateOrgWebhook: ORG('orgs:webhooks:manage', 200, () => ({ body: { description: 'Renamed' } })),
  deleteOrgWebhook: ORG('orgs:webhooks:manage', 200),
  rotateOrgWebhookSecret: ORG('orgs:webhooks:manage', 200, undefined, (t, res) => t.match(json(res).secret, /^whsec_/)),
  testOrgWebhook: ORG('orgs:webhooks:manage', 200, undefined, (t, res) => t.match(json(res), { eventType: 'webhook.test', status: 'failed', attempts: [{ succeeded: false }] })),
  listOrgWebhookDeliveries: ORG('orgs:webhooks:manage', 200, undefined, (t, res) => t.equal(json(res).results.filter((d: any) => d.eventType === 'webhook.test').length, 2)),
  retryOrgWebhookDelivery: ORG('orgs:webhooks:manage', 202, undefined, (t, res) => t.match(json(res), { status: 'pending' }))
}

/** The request for an operation on a scope: path parameters from the world, the row's call. */
function requestOf (id: OperationId, scope: Scope, w: World, headers: Record<string, string>, extraQuery: Record<string, string> = {}): InjectOptions {
  const def = routes[id]
  const call = MATRIX[id].call?.(scope, w) ?? {}
  const values: Record<string, string> = {
    orgSlug: scope.orgSlug,
    orgId: scope.orgId,
    applicationId: scope.applicationId,
    userId: w.memberId,
    groupSlug: w.groupSlug,
    roleSlug: w.roleSlug,
    keyId: w.keyId,
    webhookId: w.webhookId,
    deliveryId: w.deliveryId,
    ...call.params
  }
  const path = def.url.replace(/:(\w+)/g, (_, name: string) => {
    const value = values[name]
    if (value === undefined) throw new Error(`${id}: no fixture for path parameter ${name}`)
    return encodeURIComponent(value)
  })
  const query = new URLSearchParams({ ...call.query, ...extraQuery }).toString()
  return {
    method: def.method,
    url: query === '' ? path : `${path}?${query}`,
    headers: call.csv !== undefined ? { ...headers, 'content-type': 'text/csv' } : headers,
    ...(call.csv !== undefined ? { payload: call.csv } : call.body !== undefined ? { payload: call.body } : {})
  }
}

/** The five callers' headers for one operation. */
async function callers (ctx: TestApp, w: World, row: Row): Promise<Array<Record<string, string>>> {
  const platform = row.permission !== undefined && PLATFORM_PERMISSIONS.includes(row.permission)
  const without = ORG_PERMISSIONS.filter((p) => p !== row.permission)
  return [
    {},
    bearer(w.other.token),
    { 'x-api-key': w.other.key },
    { 'x-api-key': await orgKey(ctx, w, without) },
    platform ? ownerWith(ctx, w, [row.permission as string]) : bearer(w.ownerToken)
  ]
}

const SCOPE_KEYS = ['orgSlug', 'orgId', 'applicationId'] as const

/** The body without what differs per request: the request id, and the ids it named (as `as`'s). */
function comparable<T> (res: LightMyRequestResponse, named: T, as: T, keys: ReadonlyArray<keyof T> = SCOPE_KEYS as any): unknown {
  let text = res.body
  for (const k of keys) text = text.replaceAll(String(named[k]), String(as[k]))
  const { requestId: _, ...rest } = JSON.parse(text)
  return rest
}

const KINDS: Record<number, string> = { 401: 'AuthenticationError', 403: 'ForbiddenError', 404: 'NotFoundError' }
const TITLES: Record<number, string> = { 401: 'Unauthorized', 404: 'NotFound' }

function checkDenialShape (t: Test, id: OperationId, res: LightMyRequestResponse, label: string): void {
  const body = json(res)
  if (routes[id].url.startsWith('/api/public/')) {
    t.same(Object.keys(body), ['error'], `${label}: public family body`)
    t.same(Object.keys(body.error).sort(), ['detail', 'title'], `${label}: {error: {title, detail}}`)
    t.equal(body.error.title, TITLES[res.statusCode], `${label}: title`)
  } else {
    t.equal(body.error, KINDS[res.statusCode], `${label}: error kind`)
    t.type(body.message, 'string', `${label}: message`)
  }
}

function operationCount (): number {
  const methods = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'])
  return Object.values(spec.paths as Record<string, Record<string, unknown>>)
    .flatMap((item) => Object.keys(item).filter((m) => methods.has(m))).length
}

t.test('the matrix covers every operation of the spec, and only those', async (t) => {
  t.equal(Object.keys(routes).length, operationCount(), 'routes.ts has every operation of openapi.json')
  t.same(Object.keys(MATRIX).sort(), Object.keys(routes).sort(), 'one row per operation')
})

t.test('every operation × five callers', async (t) => {
  const ctx = await buildTestApp(t, { AUTH_FAILURE_MAX: '100000' })
  let covered = 0
  for (const id of Object.keys(routes) as OperationId[]) {
    const row = MATRIX[id]
    t.ok(row, `${id} has a row`)
    if (!row) continue
    await t.test(id, async (t) => {
      const w = await buildWorld(ctx)
      const heads = await callers(ctx, w, row)
      const before = await snapshot(ctx, w.orgId)
      for (let c = 0; c < 4; c++) {
        const label = `${id} as ${CALLERS[c]}`
        const res = await ctx.app.inject(requestOf(id, w, w, heads[c]!))
        t.equal(res.statusCode, row.statuses[c], label, { body: res.body })
        if (res.statusCode < 400) {
          // A success for a caller outside the org names nothing of it.
          if (c > 0) t.notOk(res.body.includes(w.orgId) || res.body.includes(w.orgSlug), `${label}: nothing of the org`)
          continue
        }
        checkDenialShape(t, id, res, label)
        if (c === 3 && res.statusCode === 403) {
          t.equal(json(res).message, `Missing permission ${row.permission}`, `${label}: names the permission`)
          continue
        }
        const missing = missingScope()
        const baseline = await ctx.app.inject(requestOf(id, missing, w, heads[c]!))
        t.equal(baseline.statusCode, res.statusCode, `${label}: same status as for a nonexistent org`)
        t.same(comparable(res, w, w), comparable(baseline, missing, w), `${label}: same body as for a nonexistent org`)
      }
      t.same(await snapshot(ctx, w.orgId), before, `${id}: the denied calls wrote nothing`)
      const res = await ctx.app.inject(requestOf(id, w, w, heads[4]!))
      t.equal(res.statusCode, row.statuses[4], `${id} as ${CALLERS[4]}`, { body: res.body })
      row.check?.(t, res, w)
    })
    covered++
  }
  t.equal(covered, operationCount(), 'every operation of the spec was called')
})

t.test('the public list: a member who does not administer the org gets the nonexistent org\'s 404', async (t) => {
  const ctx = await buildTestApp(t)
  const w = await buildWorld(ctx)
  const missing = missingScope()
  const res = await ctx.app.inject(requestOf('listPublicOrgMembers', w, w, bearer(w.memberToken)))
  const baseline = await ctx.app.inject(requestOf('listPublicOrgMembers', missing, w, bearer(w.memberToken)))
  t.equal(res.statusCode, 404)
  t.same(res.json(), { error: { title: 'NotFound', detail: 'Organization not found' } })
  t.same(comparable(res, w, w), comparable(baseline, missing, w))
})

/** Every operation with a `cursor` query parameter in the spec, its `$ref`s followed. */
function cursorOperations (): OperationId[] {
  const deref = (p: any): any => (p.$ref ? p.$ref.split('/').slice(1).reduce((o: any, k: string) => o[k], spec) : p)
  const ids: OperationId[] = []
  for (const item of Object.values(spec.paths as Record<string, any>)) {
    for (const op of Object.values(item) as any[]) {
      if (op?.operationId === undefined) continue
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map(deref)
      if (params.some((p) => p.in === 'query' && p.name === 'cursor')) ids.push(op.operationId)
    }
  }
  return ids
}

/** Two more application roles, OAuth clients, groups and API keys, and a second group member, so every list of this world has a second page. */
async function secondPages (ctx: TestApp, w: World): Promise<void> {
  const headers = ownerWith(ctx, w, ['admin:write'])
  for (let i = 0; i < 2; i++) {
    for (const id of ['createApplicationRole', 'createClient', 'createOrgGroup', 'createOrgApiKey', 'addOrgGroupMembers'] as const) {
      const res = await ctx.app.inject(requestOf(id, w, w, headers))
      if (res.statusCode !== 201) throw new Error(`${id} failed: ${res.statusCode} ${res.body}`)
    }
  }
}

const nextCursorOf = (body: any): string | null => body.nextCursor ?? body.pagination?.nextCursor ?? null

t.test('a cursor minted for one list (another org, application or list) is a 400 on every other list', async (t) => {
  const ctx = await buildTestApp(t)
  const lists = cursorOperations()
  t.ok(lists.includes('listOrgMembers') && lists.includes('listPublicOrgMembers'), `cursor lists: ${lists.join(', ')}`)
  const [a, b] = [await buildWorld(ctx), await buildWorld(ctx)]
  await secondPages(ctx, a)
  await secondPages(ctx, b)
  const reader = (w: World) => ownerWith(ctx, w, PLATFORM_PERMISSIONS)
  const cursors: Array<{ id: OperationId, world: World, cursor: string }> = []
  for (const id of lists) {
    for (const w of [a, b]) {
      const res = await ctx.app.inject(requestOf(id, w, w, reader(w), { limit: '1' }))
      t.equal(res.statusCode, 200, `${id} first page`, { body: res.body })
      const cursor = nextCursorOf(res.json())
      t.type(cursor, 'string', `${id} has a second page`)
      if (cursor !== null) cursors.push({ id, world: w, cursor })
    }
  }
  for (const id of lists) {
    const ownUrl = requestOf(id, a, a, {}).url
    for (const minted of cursors) {
      const label = `${minted.id} cursor of ${minted.world === a ? 'A' : 'B'} on ${id} of A`
      const sameList = minted.id === id && requestOf(minted.id, minted.world, minted.world, {}).url === ownUrl
      const res = await ctx.app.inject(requestOf(id, a, a, reader(a), { limit: '1', cursor: minted.cursor }))
      if (sameList) {
        t.equal(res.statusCode, 200, `${label}: the list's own cursor works`, { body: res.body })
        continue
      }
      t.equal(res.statusCode, 400, label, { body: res.body })
      const body = res.json()
      // The public list's cursors are member ids (its seed); every other list's are tokens bound to the list.
      const mintedId = routes[minted.id].url.startsWith('/api/public/')
      if (routes[id].url.startsWith('/api/public/')) {
        t.match(body, { error: { title: 'BadRequest', detail: mintedId ? 'querystring/cursor is not the id of an item of this list' : /^querystring\/cursor (must match pattern|must NOT have more than)/ } }, `${label}: names the cursor`)
      } else {
        t.same(body.details, [{ field: 'querystring/cursor', message: mintedId ? 'is malformed' : 'belongs to another list' }], `${label}: names the cursor`)
      }
    }
  }
})

t.test('ids of org A through org B\'s own paths and bodies: what an id that does not exist gets, and A untouched', async (t) => {
  const ctx = await buildTestApp(t)
  const [a, b] = [await buildWorld(ctx), await buildWorld(ctx)]
  const childParams = /:(userId|keyId|groupSlug|roleSlug|webhookId|deliveryId)\b/
  const ops = (Object.keys(routes) as OperationId[]).filter((id) => routes[id].url.includes(':orgSlug') && childParams.test(routes[id].url))
  t.ok(ops.length >= 15, `${ops.length} operations name a member, key, group or role`)
  const before = await snapshot(ctx, a.orgId)
  for (const headers of [bearer(b.ownerToken), { 'x-api-key': await orgKey(ctx, b, ORG_PERMISSIONS) }]) {
    for (const id of ops) {
      const label = `${id} as ${'authorization' in headers ? 'owner' : 'key'} of B with A's ids`
      const res = await ctx.app.inject(requestOf(id, b, a, headers))
      t.equal(res.statusCode, 404, label, { body: res.body })
      const none: World = { ...a, memberId: randomUUID(), invitedId: randomUUID(), keyId: randomUUID(), groupSlug: randomSlug('group'), roleSlug: randomSlug('role'), webhookId: randomUUID(), deliveryId: randomUUID() }
      const baseline = await ctx.app.inject(requestOf(id, b, none, headers))
      t.same(comparable(res, a, a), comparable(baseline, none, a, ['memberId', 'invitedId', 'keyId', 'groupSlug', 'roleSlug', 'webhookId', 'deliveryId']),
        `${label}: same body as for an id that does not exist`)
    }
  }
  // User ids of A in a body sent to B's own group or members: what a random id gets.
  const BODY_USER_IDS: Partial<Record<OperationId, number>> = { addOrgGroupMembers: 400, removeOrgGroupMembers: 200, removeOrgMembers: 200 }
  const bodyOps = (Object.keys(routes) as OperationId[]).filter((id) => 'userIds' in ((routes[id].schema as any).body?.properties ?? {}))
  t.same(bodyOps.sort(), Object.keys(BODY_USER_IDS).sort(), 'every operation taking userIds in its body')
  const headers = bearer(b.ownerToken)
  for (const id of bodyOps) {
    const res = await ctx.app.inject(requestOf(id, b, { ...b, memberId: a.memberId, invitedId: a.invitedId }, headers))
    t.equal(res.statusCode, BODY_USER_IDS[id], `${id} on B with A's user ids`, { body: res.body })
    const none = { ...b, memberId: randomUUID(), invitedId: randomUUID() }
    const baseline = await ctx.app.inject(requestOf(id, b, none, headers))
    t.same(comparable(res, a, a), comparable(baseline, none, a, ['memberId', 'invitedId']), `${id}: same body as for a user id that does not exist`)
  }
  t.same(await snapshot(ctx, a.orgId), before, 'org A is untouched')
})
