// The member CSV import, and the export → import → export round trip, on both databases.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { bearer, buildTestApp, databaseName, onPostgres, ownerWithOrg, type TestApp } from './helper.ts'
import { eventually, insertMembers, parseCsv, type MemberSpec } from './export-helper.ts'
import { unprefixCell } from '../src/lib/csv.ts'
import { MAX_NAME } from '../src/lib/member-entry.ts'

t.comment(`database: ${databaseName}`)

// PostgreSQL text holds neither NUL nor half a surrogate pair (not valid UTF-8).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const csvHeaders = (token: string) => ({ ...bearer(token), 'content-type': 'text/csv' })

async function exportCsv (ctx: TestApp, slug: string, token: string): Promise<string> {
  const res = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${slug}/members/export`, headers: bearer(token) })
  if (res.statusCode !== 200) throw new Error(`export failed: ${res.statusCode} ${res.body}`)
  return res.body
}

async function importCsv (ctx: TestApp, slug: string, token: string, body: string, query = '') {
  return await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${slug}/members/import${query}`, headers: csvHeaders(token), payload: body })
}

/** What must survive the round trip, one string per member, sorted. */
function identity (csv: string, exceptUserIds: string[] = []): string[] {
  return parseCsv(csv).filter((r) => !exceptUserIds.includes(r.userId!)).map((r) => JSON.stringify([
    r.userId, unprefixCell(r.email!), r.roleSlug, r.status, unprefixCell(r.groups!).split(';').filter(Boolean).sort(),
    unprefixCell(r.firstName!), unprefixCell(r.lastName!), unprefixCell(r.fullName!)
  ])).sort()
}

async function roundTrip (ctx: TestApp, specs: MemberSpec[]): Promise<{ x: string[], y: string[], result: any }> {
  const x = await ownerWithOrg(ctx)
  const y = await ownerWithOrg(ctx)
  await insertMembers(ctx.app, x.orgId, specs)
  const exported = await exportCsv(ctx, x.slug, x.token)
  const imported = await importCsv(ctx, y.slug, y.token, exported)
  if (imported.statusCode !== 200) throw new Error(`import failed: ${imported.statusCode} ${imported.body}`)
  const yOwner = parseCsv(await exportCsv(ctx, y.slug, y.token)).find((r) => r.roleSlug === 'owner' && r.email === `${y.sub}@example.com`)!.userId!
  return { x: identity(exported), y: identity(await exportCsv(ctx, y.slug, y.token), [yOwner]), result: imported.json() }
}

t.test('export of X, import into Y, export of Y: the same members', async (t) => {
  const ctx = await buildTestApp(t)
  const { x, y, result } = await roundTrip(ctx, [
    { email: "=cmd|'/c calc'!A1@x.example", givenName: '+1', familyName: "'quoted", roleSlug: 'admin', groups: ['g-1', 'h', 'plain'] },
    { email: `suspended-${randomUUID()}@example.com`, status: 'suspended', groups: ['0', 'a-b'], fullName: 'n'.repeat(MAX_NAME) },
    { email: `invited-${randomUUID()}@example.com`, status: 'invited', fullName: 'two\r\nlines "q"' },
    { email: `-${randomUUID()}@example.com`, givenName: '@home', familyName: '\ttab' }
  ])
  t.same(result, { created: 5, skipped: 0, failed: [], failedCount: 0, dryRun: false }, 'the four and X\'s owner')
  t.same(y, x)
})

t.test('property: arbitrary Unicode names (up to their bound), emails and group slugs survive export → import → export', async (t) => {
  const ctx = await buildTestApp(t)
  const tricky = fc.string({ unit: fc.constantFrom('=', '+', '-', '@', '\t', '\r', '\n', "'", '"', ',', ';', ' ', 'a', 'é', '日', '😀', '\u200b') })
  const text = fc.oneof(fc.string({ unit: 'binary' }), tricky).filter((s) => !LONE_SURROGATE.test(s) && !s.includes('\u0000'))
  // Groups are what the API can create: slugs (a non-slug group cell fails its line).
  const slug = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/)
  const name = fc.oneof(text, fc.constant('n'.repeat(MAX_NAME)), fc.constant('é'.repeat(MAX_NAME)))
  const member = fc.record({
    email: text,
    givenName: fc.option(name),
    familyName: fc.option(name),
    fullName: fc.option(name),
    roleSlug: fc.constantFrom('member', 'admin'),
    status: fc.constantFrom('active', 'invited', 'suspended'),
    groups: fc.uniqueArray(slug, { maxLength: 3 })
  })
  await fc.assert(fc.asyncProperty(fc.array(member, { minLength: 1, maxLength: 4 }), async (members) => {
    // Emails are unique across users: an arbitrary prefix, a unique suffix.
    const specs = members.map((m) => ({ ...m, email: `${m.email}<${randomUUID()}>` })) as MemberSpec[]
    const { x, y } = await roundTrip(ctx, specs)
    t.same(y, x)
    return JSON.stringify(y) === JSON.stringify(x)
  }), { numRuns: onPostgres ? 25 : 8 })
})

t.test('dry run validates and reports without writing anything', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const count = async () => Promise.all(['users', 'org_memberships', 'org_groups', 'org_group_members', 'audit_events']
    .map(async (table) => Number((await ctx.app.db.selectFrom(table as any).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)))
  const before = await count()
  const body = `email,roleSlug,groups\r\nnew-${randomUUID()}@example.com,admin,fresh-group\r\nx-${randomUUID()}@example.com,nope,\r\n`
  const res = await importCsv(ctx, owner.slug, owner.token, body, '?dryRun=true')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { created: 1, skipped: 0, failed: [{ line: 3, message: 'roleSlug role nope does not exist in this organization' }], failedCount: 1, dryRun: true })
  t.same(await count(), before, 'no table changed')
})

t.test('bad lines fail alone, reported with their line numbers', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const e = (): string => `${randomUUID()}@example.com`
  const dup = e()
  const lines = [
    'email,userId,roleSlug,status,firstName', // 1
    `${dup},,member,active,A`, // 2 ok
    `${e()},,ghost,active,B`, // 3 unknown role
    `${e()},,member,active,"multi`, // 4-5 ok, a quoted field over two lines
    'line"', // 5
    `"${e()}"x,,member,active,C`, // 6 malformed quoting: a closing quote followed by text
    `${e()},,member`, // 7 too few fields
    `,${randomUUID()},member,active,D`, // 8 unknown user, no email
    `${e()},,member,sleeping,E`, // 9 bad status
    `${dup},,member,active,F`, // 10 same user as line 2
    ',not-a-uuid,member,active,G', // 11
    ',,member,active,H', // 12 neither
    `${e()},,,,'''I`, // 13 ok, default role; the name keeps two of its three quotes
    `${e()},,member,active,nul\u0000byte` // 14
  ]
  const res = await importCsv(ctx, owner.slug, owner.token, lines.join('\r\n'))
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.equal(body.created, 3)
  t.same(body.failed.map((f: { line: number }) => f.line), [3, 6, 7, 8, 9, 10, 11, 12, 14])
  t.match(body.failed, [
    { message: /role ghost/ }, { message: /not valid CSV/ }, { message: /expected 5 fields, found 3/ }, { message: /not a known user/ },
    { message: /status/ }, { message: /same user as line 2/ }, { message: /not a UUID/ }, { message: /userId or an email/ },
    { message: /NUL/ }
  ])
  const names = parseCsv(await exportCsv(ctx, owner.slug, owner.token)).map((r) => unprefixCell(r.firstName!))
  t.ok(names.includes('multi\r\nline') || names.includes('multi\nline'))
  t.ok(names.includes("''I"), 'exactly one leading quote removed')
  await eventually(async () => (await ctx.app.db.selectFrom('audit_events').select('metadata').where('org_id', '=', owner.orgId).where('action', '=', 'members.imported').execute()).length === 1, 'audit')
})

t.test('over-long values fail their line with the bound they broke', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const e = (): string => `${randomUUID()}@example.com`
  const lines = [
    'email,fullName,groups', // 1
    `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(320 - 64 - 63 * 3 - 8)}.com,${'n'.repeat(MAX_NAME)},${'g'.repeat(63)}`, // 2 ok: every value at its bound
    `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(321 - 64 - 63 * 3 - 8)}.com,,`, // 3
    `${e()},${'n'.repeat(MAX_NAME + 1)},`, // 4
    `${e()},,${Array.from({ length: 51 }, (_, i) => `g${i}`).join(';')}`, // 5
    `${e()},,ok;${'g'.repeat(64)}` // 6
  ]
  const res = await importCsv(ctx, owner.slug, owner.token, lines.join('\r\n'))
  t.equal(res.statusCode, 200)
  t.match(res.json(), {
    created: 1,
    failed: [
      { line: 3, message: 'email must NOT have more than 320 characters' },
      { line: 4, message: `fullName must NOT have more than ${MAX_NAME} characters` },
      { line: 5, message: 'groups must NOT have more than 50 items' },
      { line: 6, message: 'groups/1 must NOT have more than 63 characters' }
    ]
  })
  t.equal(res.json().failed.length, 4)
  const groups = await ctx.app.db.selectFrom('org_groups').select('slug').where('org_id', '=', owner.orgId).execute()
  t.same(groups.map((g) => g.slug), ['g'.repeat(63)], 'nothing of the failed lines was written')
})

t.test('existing members are skipped (or failed with skipExisting=false); LF, BOM and subsets accepted', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const email = `${randomUUID()}@example.com`
  const body = `\uFEFFemail,unknownColumn\n${email},whatever\n`
  t.same((await importCsv(ctx, owner.slug, owner.token, body)).json(), { created: 1, skipped: 0, failed: [], failedCount: 0, dryRun: false })
  t.same((await importCsv(ctx, owner.slug, owner.token, body)).json(), { created: 0, skipped: 1, failed: [], failedCount: 0, dryRun: false })
  t.same((await importCsv(ctx, owner.slug, owner.token, body, '?skipExisting=false')).json().failed, [{ line: 2, message: 'already a member' }])
  const row = parseCsv(await exportCsv(ctx, owner.slug, owner.token)).find((r) => r.email === email)
  t.match(row, { status: 'invited', roleSlug: 'member', joinedVia: 'invite-email' }, 'an unknown email is a pending user with an invitation')
})

t.test('refused before anything is applied: auth, content type, header, size', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const url = `/v2/orgs/${owner.slug}/members/import`
  const cases: Array<[string, Record<string, string>, string, number, string]> = [
    ['no credential', { 'content-type': 'text/csv' }, 'email\r\n', 401, 'AuthenticationError'],
    ['stranger', csvHeaders(ctx.token()), 'email\r\n', 404, 'NotFoundError'],
    ['JSON body', { ...bearer(owner.token), 'content-type': 'application/json' }, '{"email":"a@b.c"}', 415, 'UnsupportedMediaTypeError'],
    ['empty body', csvHeaders(owner.token), '', 400, 'ValidationError'],
    ['no userId or email column', csvHeaders(owner.token), 'firstName,lastName\r\nA,B\r\n', 400, 'ValidationError'],
    ['repeated column', csvHeaders(owner.token), 'email,email\r\na,b\r\n', 400, 'ValidationError']
  ]
  for (const [name, headers, payload, status, error] of cases) {
    const res = await ctx.app.inject({ method: 'POST', url, headers, payload })
    t.equal(res.statusCode, status, name)
    t.match(res.json(), { error, message: String }, name)
  }
  const big = await ctx.app.inject({ method: 'POST', url, headers: csvHeaders(owner.token), payload: 'email\r\n' + 'x'.repeat(50 * 1024 * 1024) })
  t.equal(big.statusCode, 413)
  t.match(big.json(), { error: 'PayloadTooLargeError', message: /52428800 bytes/ })
})

t.test('a pending user takes its names from the line that resolved to it by its email', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const ownerId = parseCsv(await exportCsv(ctx, owner.slug, owner.token))[0]!.userId!
  const newcomer = `n-${randomUUID()}@example.com`
  // Line 2 is the owner, by id, with the newcomer's email beside it; line 3 resolves by email.
  const csv = `userId,email,firstName\r\n${ownerId},${newcomer},Wrong\r\n${randomUUID()},${newcomer},Right\r\n`
  const res = await importCsv(ctx, owner.slug, owner.token, csv)
  t.equal(res.statusCode, 200, res.body)
  const user = await ctx.app.db.selectFrom('users').select(['given_name', 'status']).where('email', '=', newcomer).executeTakeFirstOrThrow()
  t.same(user, { given_name: 'Right', status: 'pending' })
})
