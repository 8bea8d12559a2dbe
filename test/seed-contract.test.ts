// Live responses held against the seeds' own OpenAPI fragments (read from ../shared/seeds at
// test time), and the public list driven the way a client generated from its seed drives it:
// `cursor` is the `id` of the last item of the previous page.
import t, { type Test } from 'tap'
import { bearer, buildTestApp, ownerWithOrg, type TestApp } from './helper.ts'
import { seedMembers } from '../src/db/seed.ts'
import { seedOperations, type SeedOperation } from './seeds.ts'

const seeds = await seedOperations()
const seedOf = (method: string, path: string): SeedOperation => {
  const found = seeds.find((s) => s.method === method && s.path === path)
  if (found === undefined) throw new Error(`no seed fragment for ${method} ${path}`)
  return found
}
const publicList = seedOf('GET', '/api/public/organizations/{orgId}/members')
const memberExport = seedOf('POST', '/v2/orgs/{orgSlug}/members/export')

interface Reply { statusCode: number, headers: Record<string, unknown>, body: string }

/** The reply matches the seed's response for its status; a status the seed does not list is counted apart. */
function holdAgainstSeed (t: Test, seed: SeedOperation, res: Reply, label: string): void {
  const validate = seed.validator(res.statusCode)
  if (validate === undefined) {
    t.fail(`${label}: ${res.statusCode} is not a status of the seed ${seed.seed}`)
    return
  }
  if (validate === null) {
    t.ok(true, `${label}: ${res.statusCode} has no JSON body in the seed`)
    return
  }
  const ok = validate(JSON.parse(res.body))
  t.ok(ok, `${label}: ${res.statusCode} matches the seed ${seed.seed}${ok ? '' : `: ${JSON.stringify(validate.errors)}`}`)
}

t.test('the seeds ship the fragments this suite reads', async (t) => {
  t.same(seeds.map((s) => `${s.method} ${s.path}`).sort(), ['GET /api/public/organizations/{orgId}/members', 'POST /v2/orgs/{orgSlug}/members/export'])
})

t.test('public list: every reply the seed lists matches its fragment', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const other = await ownerWithOrg(ctx)
  await seedMembers(ctx.app.db, owner.orgId, 70)
  const url = `/api/public/organizations/${owner.orgId}/members`
  const get = async (path: string, headers: Record<string, string>) => await ctx.app.inject({ method: 'GET', url: path, headers })
  const first = await get(`${url}?limit=20`, bearer(owner.token))
  holdAgainstSeed(t, publicList, first, 'first page')
  const last = first.json().data.at(-1).id
  holdAgainstSeed(t, publicList, await get(`${url}?limit=100&cursor=${last}`, bearer(owner.token)), 'cursor page')
  holdAgainstSeed(t, publicList, await get(url, {}), 'no credential')
  holdAgainstSeed(t, publicList, await get(url, bearer('not-a-token')), 'bad credential')
  holdAgainstSeed(t, publicList, await get(url, bearer(other.token)), 'another org')
  holdAgainstSeed(t, publicList, await get('/api/public/organizations/acme/members', bearer(owner.token)), 'not an id')

  const limited = await buildTestApp(t, { RATE_LIMIT_MAX: '1' })
  const limitedOwner = await ownerWithOrg(limited)
  const limitedGet = async () => await limited.app.inject({ method: 'GET', url: `/api/public/organizations/${limitedOwner.orgId}/members`, headers: bearer(limitedOwner.token) })
  await limitedGet()
  await limitedGet()
  const res = await limitedGet()
  t.equal(res.statusCode, 429)
  holdAgainstSeed(t, publicList, res, 'rate limited')
})

t.test('member export: every reply the seed lists matches its fragment', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  await seedMembers(ctx.app.db, owner.orgId, 5)
  const url = `/v2/orgs/${owner.slug}/members/export`
  const ok = await ctx.app.inject({ method: 'POST', url, headers: bearer(owner.token) })
  t.equal(ok.statusCode, 200)
  t.match(ok.headers['content-type'], /^text\/csv/, 'the seed\'s media type')
  t.ok('text/csv' in memberExport.operation.responses['200'].content)
  holdAgainstSeed(t, memberExport, ok, 'export')
  holdAgainstSeed(t, memberExport, await ctx.app.inject({ method: 'POST', url }), 'no credential')
  const key = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/api-keys`, headers: bearer(owner.token), payload: { slug: 'reader', name: 'Reader', permissions: ['orgs:read'] } })
  const forbidden = await ctx.app.inject({ method: 'POST', url, headers: { 'x-prismeai-api-key': key.json().apiKey } })
  t.equal(forbidden.statusCode, 403)
  holdAgainstSeed(t, memberExport, forbidden, 'key without orgs:members:read')
})

/** Every member of the public list, newest first, as the database orders them. */
async function expectedOrder (ctx: TestApp, orgId: string): Promise<string[]> {
  const rows = await ctx.app.db.selectFrom('org_memberships').select(['id', 'created_at']).where('org_id', '=', orgId)
    .where('status', 'in', ['active', 'suspended']).execute()
  return rows.sort((a, b) => (a.created_at === b.created_at ? (a.id < b.id ? 1 : -1) : (a.created_at < b.created_at ? 1 : -1))).map((r) => r.id)
}

t.test('a Basedash client pages the public list with item ids as cursors', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const other = await ownerWithOrg(ctx)
  // Three members per second: ties at the same microsecond fall across page boundaries.
  await seedMembers(ctx.app.db, owner.orgId, 130)
  await seedMembers(ctx.app.db, other.orgId, 3)
  const url = `/api/public/organizations/${owner.orgId}/members`
  const get = async (query: string) => await ctx.app.inject({ method: 'GET', url: `${url}?${query}`, headers: bearer(owner.token) })
  const expected = await expectedOrder(ctx, owner.orgId)

  for (const limit of [1, 7, 50, 100]) {
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    for (;;) {
      const res = await get(`limit=${limit}${cursor === undefined ? '' : `&cursor=${cursor}`}`)
      t.equal(res.statusCode, 200)
      const { data, pagination } = res.json() as { data: Array<{ id: string }>, pagination: { nextCursor: string | null, hasMore: boolean } }
      seen.push(...data.map((m) => m.id))
      pages++
      t.equal(pagination.nextCursor, pagination.hasMore ? data.at(-1)!.id : null, 'nextCursor is the id of the page\'s last member, null on the last page')
      if (!pagination.hasMore) break
      cursor = data.at(-1)!.id // what the seed says a client sends: the id of the last item
    }
    t.same(seen, expected, `limit ${limit}: every member once, newest first, ties by id`)
    t.equal(pages, Math.max(1, Math.ceil(expected.length / limit)))
  }

  // Any member's id is a valid cursor: the page starts right after that member.
  for (const at of [0, 41, expected.length - 2]) {
    const res = await get(`limit=5&cursor=${expected[at]!.toUpperCase()}`)
    t.equal(res.statusCode, 200)
    t.same(res.json().data.map((m: { id: string }) => m.id), expected.slice(at + 1, at + 6), `after member ${at}`)
  }
  const last = await get(`cursor=${expected.at(-1)!}`)
  t.same(last.json(), { data: [], pagination: { nextCursor: null, hasMore: false } }, 'after the last member: an empty last page')

  const otherMember = (await expectedOrder(ctx, other.orgId))[0]!
  for (const [label, cursor] of [['a member of another org', otherMember], ['an unknown id', '6f1d2c4b-8a9e-4f6a-b7c1-2d3e4f5a6b7c'], ['not an id', 'abc'], ['the old opaque token', Buffer.from(JSON.stringify(['x', expected[0]])).toString('base64url')]] as const) {
    const res = await get(`cursor=${cursor}`)
    t.equal(res.statusCode, 400, label)
    t.match(res.json(), { error: { title: 'BadRequest', detail: /querystring\/cursor/ } }, `${label}: the public error body`)
  }
})
