// Issue 13: a client generated from Prisme's spec or from the seeds works unchanged. Matrices
// over every operation (unknown query parameters, bodies where none or another type is
// expected, documented statuses), bodies validated without coercion, and Prisme's parameters
// and bodies on the lists and group/member operations. Every refusal leaves the database as it was.
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import { routes, type OperationId } from '../generated/routes.ts'
import { bearer, buildTestApp, ownerWithOrg, type TestApp } from './helper.ts'
import { PLATFORM } from './admin-helper.ts'
import { seedMembers } from '../src/db/seed.ts'

const spec = JSON.parse(readFileSync(new URL('../generated/openapi.json', import.meta.url), 'utf8')) as { paths: Record<string, Record<string, any>> }
const operations = Object.keys(routes) as OperationId[]
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** The operation's URL with schema-valid path parameters (validation runs before any handler looks them up). */
function urlOf (id: OperationId): string {
  const def = routes[id]
  const params = ('params' in def.schema ? def.schema.params.properties : {}) as Record<string, { format?: string }>
  return def.url.replace(/:(\w+)/g, (_m, name: string) => (params[name]?.format === 'uuid' || name === 'orgId' ? randomUUID() : 'acme'))
}

/** Schema-valid values of the operation's required query parameters, as a query string prefix. */
function requiredQuery (id: OperationId): string {
  const query = (routes[id].schema as { querystring?: { required?: readonly string[] } }).querystring
  return (query?.required ?? []).map((name) => `${name}=${randomUUID()}&`).join('')
}

function documented (id: OperationId): Set<string> {
  for (const item of Object.values(spec.paths)) {
    for (const op of Object.values(item)) if (op?.operationId === id) return new Set(Object.keys(op.responses))
  }
  throw new Error(`${id} not in the spec`)
}

t.test('every operation documents 400, 500 and 503, and 413 and 415 when its method carries a body', async (t) => {
  for (const id of operations) {
    const statuses = documented(id)
    const wanted = ['400', '500', '503', ...(BODY_METHODS.has(routes[id].method) ? ['413', '415'] : []), ...(routes[id].security.length > 0 ? ['401'] : [])]
    t.same(wanted.filter((s) => !statuses.has(s)), [], `${id} documents ${wanted.join(', ')}`)
    t.equal((routes[id].schema as { querystring?: { additionalProperties?: boolean } }).querystring?.additionalProperties, false, `${id} refuses unknown query parameters`)
  }
})

t.test('an unknown query parameter is the same 400 on every operation', async (t) => {
  const metricsToken = 'metrics-token-0123456789abcdef'
  const ctx = await buildTestApp(t, { METRICS_TOKEN: metricsToken })
  const platform = bearer(ctx.token({ permissions: PLATFORM }))
  for (const id of operations) {
    const def = routes[id]
    // A required body (JSON, or the import's streamed CSV) is checked before the query.
    const needsBody = def.bodyTypes.length > 0 && !('bodyOptional' in def)
    if (needsBody) continue // the body is validated first; the static matrix above covers these
    const headers = id === 'getMetrics' ? bearer(metricsToken) : platform
    const res = await ctx.app.inject({ method: def.method, url: `${urlOf(id)}?${requiredQuery(id)}zzz=1`, headers })
    t.equal(res.statusCode, 400, `${id}: 400`)
    const message = id === 'listPublicOrgMembers' ? res.json().error.detail : res.json().message
    t.equal(message, 'querystring/zzz is not an allowed property', `${id}: names the parameter`)
  }
})

t.test('a body in a media type an operation does not take is a 415, also where it takes none', async (t) => {
  const ctx = await buildTestApp(t)
  const headers = bearer(ctx.token({ permissions: PLATFORM }))
  for (const id of operations.filter((op) => BODY_METHODS.has(routes[op].method))) {
    const takesBody = routes[id].bodyTypes.length > 0
    const res = await ctx.app.inject({
      method: routes[id].method,
      url: urlOf(id),
      headers: { ...headers, 'content-type': takesBody ? 'application/x-unknown' : 'application/json' },
      payload: takesBody ? 'x' : '{}'
    })
    t.equal(res.statusCode, 415, `${id}: 415`)
    t.match(res.json(), { error: 'UnsupportedMediaTypeError', message: takesBody ? /Content-Type|Unsupported/ : 'This operation takes no request body' }, id)
  }
})

async function countOrgs (ctx: TestApp): Promise<number> {
  return Number((await ctx.app.db.selectFrom('organizations').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)
}

t.test('JSON bodies are validated as sent, never coerced; query strings still are', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const headers = bearer(owner.token)
  const before = await countOrgs(ctx)
  const created = await ctx.app.inject({ method: 'POST', url: '/v2/orgs', headers, payload: { name: 12345 } })
  t.equal(created.statusCode, 400)
  t.match(created.json(), { error: 'ValidationError', message: 'body/name must be string' })
  t.equal(await countOrgs(ctx), before, 'no org created')

  const url = `/v2/orgs/${owner.slug}`
  const name = (await ctx.app.inject({ method: 'GET', url, headers })).json().name
  for (const payload of [{ name: ['arr'] }, { name: true }, { description: 7 }]) {
    const res = await ctx.app.inject({ method: 'PATCH', url, headers, payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
  }
  t.equal((await ctx.app.inject({ method: 'GET', url, headers })).json().name, name, 'the org is unchanged')

  const add = await ctx.app.inject({ method: 'POST', url: `${url}/members`, headers, payload: { users: [{ email: 'coerced@example.com' }], skipExisting: 'true' } })
  t.equal(add.statusCode, 400)
  t.match(add.json().message, /body\/skipExisting must be boolean/)
  const members = await ctx.app.inject({ method: 'GET', url: `${url}/members?limit=5&includeGroups=true`, headers })
  t.equal(members.statusCode, 200, 'limit=5 and includeGroups=true are coerced from the query string')
  t.equal(members.json().total, 1, 'nobody was added')
})

/** Walks a /v2 list by cursor and by page; both must give every item once, in the same order. */
async function walk (t: Test, ctx: TestApp, base: string, headers: Record<string, string>, limit: number, expected: number) {
  const join = base.includes('?') ? '&' : '?'
  const byCursor: string[] = []
  let cursor: string | null = null
  do {
    const url: string = `${base}${join}limit=${limit}${cursor !== null ? `&cursor=${cursor}` : ''}`
    const res = await ctx.app.inject({ method: 'GET', url, headers })
    t.equal(res.statusCode, 200, `${base} cursor page`)
    const body: { results: Array<{ id: string }>, nextCursor: string | null } = res.json()
    t.ok(body.results.length <= limit, 'limit honored')
    t.equal('total' in body, cursor === null, 'total on the first page only')
    byCursor.push(...body.results.map((r) => r.id))
    cursor = body.nextCursor
  } while (cursor !== null)
  const byPage: string[] = []
  for (let page = 1; ; page++) {
    const res = await ctx.app.inject({ method: 'GET', url: `${base}${join}limit=${limit}&page=${page}`, headers })
    const body: { results: Array<{ id: string }>, total: number, nextCursor: string | null } = res.json()
    t.equal(body.total, expected, 'total on offset pages')
    byPage.push(...body.results.map((r) => r.id))
    const last = page * limit >= expected
    t.equal(body.nextCursor === null, last, `page ${page}: nextCursor null on the last page only`)
    if (last) break
  }
  t.equal(byCursor.length, expected, `${base}: every item`)
  t.equal(new Set(byCursor).size, expected, 'no item twice')
  t.same(byPage, byCursor, 'page and cursor agree')
  const reversed = await ctx.app.inject({ method: 'GET', url: `${base}${join}limit=100&sort=createdAt`, headers })
  t.same(reversed.json().results.map((r: { id: string }) => r.id), [...byCursor].reverse().slice(0, 100), 'sort=createdAt is the reverse order')
  return byCursor
}

t.test('roles, groups, group members and API keys take Prisme\'s limit, page, sort and search', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const headers = bearer(owner.token)
  const base = `/v2/orgs/${owner.slug}`
  await seedMembers(ctx.app.db, owner.orgId, 30)
  for (let i = 0; i < 7; i++) {
    t.equal((await ctx.app.inject({ method: 'POST', url: `${base}/roles`, headers, payload: { slug: `custom-${i}`, name: `Custom ${i}`, permissions: ['orgs:read'] } })).statusCode, 201)
    t.equal((await ctx.app.inject({ method: 'POST', url: `${base}/groups`, headers, payload: { slug: `team-${i}`, name: `Team ${i}` } })).statusCode, 201)
    t.equal((await ctx.app.inject({ method: 'POST', url: `${base}/api-keys`, headers, payload: { slug: `key-${i}`, name: `Key ${i}`, permissions: ['orgs:read'] } })).statusCode, 201)
  }
  const roles = await ctx.app.inject({ method: 'GET', url: `${base}/roles?limit=1`, headers })
  t.equal(roles.json().results.length, 1, 'roles?limit=1 returns one role')
  t.equal(roles.json().total, 10)
  t.equal(roles.json().defaultRole, 'member')
  const none = await ctx.app.inject({ method: 'GET', url: `${base}/groups?search=zzzz&limit=1`, headers })
  t.same(none.json(), { results: [], total: 0, nextCursor: null }, 'groups?search=zzzz finds none')
  const found = (await ctx.app.inject({ method: 'GET', url: `${base}/groups?search=EAM%203`, headers })).json()
  t.same(found.results.map((g: { slug: string }) => g.slug), ['team-3'], 'search is a case-insensitive part of the name')
  t.same((await ctx.app.inject({ method: 'GET', url: `${base}/roles?search=custom%205`, headers })).json().results.map((r: { slug: string }) => r.slug), ['custom-5'])
  t.same((await ctx.app.inject({ method: 'GET', url: `${base}/groups?search=%25`, headers })).json().total, 0, 'a % in search is a literal')

  await walk(t, ctx, `${base}/roles`, headers, 3, 10)
  const groupIds = await walk(t, ctx, `${base}/groups`, headers, 4, 7 + 4)
  t.ok(groupIds.length > 0)
  await walk(t, ctx, `${base}/api-keys`, headers, 2, 7)
  const grouped = (await ctx.app.inject({ method: 'GET', url: `${base}/groups/engineering`, headers })).json()
  await walk(t, ctx, `${base}/groups/engineering/members`, headers, 2, grouped.memberCount)

  for (const url of [`${base}/roles?sort=name`, `${base}/groups/engineering/members?sort=-email`, `${base}/api-keys?page=1&cursor=abc`, `${base}/groups?cursor=abc`]) {
    const res = await ctx.app.inject({ method: 'GET', url, headers })
    t.equal(res.statusCode, 400, url)
    t.equal(res.json().error, 'ValidationError', url)
  }
  const rolesCursor = roles.json().nextCursor
  const crossed = await ctx.app.inject({ method: 'GET', url: `${base}/groups?cursor=${rolesCursor}`, headers })
  t.match(crossed.json(), { message: 'querystring/cursor belongs to another list' }, 'a cursor of one list is refused by another')
  const turned = await ctx.app.inject({ method: 'GET', url: `${base}/roles?sort=createdAt&cursor=${rolesCursor}`, headers })
  t.match(turned.json(), { message: 'querystring/cursor was issued for sort=-createdAt' }, 'a cursor keeps its sort')
})

t.test('addOrgGroupMembers takes userIds or emails and answers with Prisme\'s id', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const headers = bearer(owner.token)
  const base = `/v2/orgs/${owner.slug}`
  const added = await ctx.app.inject({ method: 'POST', url: `${base}/members`, headers, payload: { users: [{ email: 'ada@example.com' }, { email: 'grace@example.com' }, { email: 'alan@example.com' }] } })
  t.equal(added.statusCode, 201)
  const [ada, grace, alan] = added.json() as Array<{ userId: string }>
  t.equal((await ctx.app.inject({ method: 'POST', url: `${base}/groups`, headers, payload: { slug: 'core', name: 'Core' } })).statusCode, 201)
  const url = `${base}/groups/core/members`

  const byEmail = await ctx.app.inject({ method: 'POST', url, headers, payload: { emails: ['GRACE@example.com'] } })
  t.equal(byEmail.statusCode, 201)
  t.match(byEmail.json(), [{ id: /^[0-9a-f-]{36}$/, orgSlug: owner.slug, groupSlug: 'core', userId: grace!.userId }])
  const both = await ctx.app.inject({ method: 'POST', url, headers, payload: { userIds: [ada!.userId], emails: ['grace@example.com'] } })
  t.same(both.json().map((m: { userId: string }) => m.userId), [ada!.userId, grace!.userId], 'both lists, in the order given; grace was already in')
  t.equal(both.json()[1].id, byEmail.json()[0].id, 'an existing group membership keeps its id')

  const listed = (await ctx.app.inject({ method: 'GET', url, headers })).json()
  for (const [payload, field] of [[{ emails: ['nobody@example.com'] }, 'body/emails/0'], [{ userIds: [randomUUID()] }, 'body/userIds/0'], [{ emails: ['alan@example.com', 'x@example.com'] }, 'body/emails/1'], [{}, 'body']] as const) {
    const res = await ctx.app.inject({ method: 'POST', url, headers, payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.match(res.json().message, new RegExp(`^${field} `), field)
  }
  t.same((await ctx.app.inject({ method: 'GET', url, headers })).json(), listed, 'refused adds change nothing (alan is still not in)')
  t.notOk(listed.results.some((m: { userId: string }) => m.userId === alan!.userId))
})

t.test('updateOrgMember takes Prisme\'s body; status invited is refused with the reason', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const headers = bearer(owner.token)
  const base = `/v2/orgs/${owner.slug}/members`
  const [member] = (await ctx.app.inject({ method: 'POST', url: base, headers, payload: { users: [{ email: 'linus@example.com' }] } })).json() as Array<{ userId: string }>
  const url = `${base}/${member!.userId}`
  const before = (await ctx.app.inject({ method: 'GET', url, headers })).json()
  const refusals = [
    [{ userId: member!.userId, status: 'invited' }, 'body/status cannot be invited: a membership becomes an invitation only when a member is added by email'],
    [{ userId: randomUUID(), roleSlug: 'admin' }, 'body/userId must be the userId of the path'],
    [{ userId: member!.userId }, 'body must change roleSlug or status']
  ] as const
  for (const [payload, message] of refusals) {
    const res = await ctx.app.inject({ method: 'PATCH', url, headers, payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.equal(res.json().message, message)
  }
  t.same((await ctx.app.inject({ method: 'GET', url, headers })).json(), before, 'refusals change nothing')
  const ok = await ctx.app.inject({ method: 'PATCH', url, headers, payload: { userId: member!.userId, roleSlug: 'admin' } })
  t.equal(ok.statusCode, 200)
  t.match(ok.json(), { userId: member!.userId, roleSlug: 'admin' })
})
