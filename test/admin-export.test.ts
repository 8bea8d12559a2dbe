import { randomUUID } from 'node:crypto'
import t from 'tap'
import { insertApiKey } from '../src/db/api-keys.ts'
import { buildTestApp, databaseName, randomSlug } from './helper.ts'
import { auditEvent, expectedCell, exportCsv, exportJson, platform, seedOrgWithUsers } from './admin-helper.ts'

t.comment(`database: ${databaseName}`)

const SEED_USER_HEADER = 'id,email,status,given_name,family_name,nickname,locale,email_verified,phone_number,created_at,updated_at,last_login_at,login_count'
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/
const FILENAME = (entity: string, ext: string) => new RegExp(`^attachment; filename="${entity}-export-\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d\\.${ext}"`)

t.test('every entity in both formats, read back by csv-parse and JSON.parse', async (t) => {
  const ctx = await buildTestApp(t)
  const org = await seedOrgWithUsers(ctx)
  const other = await seedOrgWithUsers(ctx)
  const admin = platform(ctx)
  const app = (await ctx.app.inject({ method: 'POST', url: '/api/admin/applications', headers: admin, payload: { slug: randomSlug('app'), name: 'Billing' } })).json()
  await ctx.app.inject({ method: 'POST', url: `/api/admin/applications/${app.id}/roles`, headers: admin, payload: { slug: 'viewer', name: '-Viewer', permissions: ['billing:read', 'invoices:*'] } })
  await ctx.app.inject({
    method: 'POST',
    url: '/api/admin/clients',
    headers: admin,
    payload: { organizationId: org.orgId, applicationId: app.id, name: 'Web, "main"', redirectUris: ['https://a.example.com/cb?x=1,2', 'https://b.example.com/cb'] }
  })

  const cases = [
    { entity: 'users', query: `organizationId=${org.orgId}`, count: 4 },
    { entity: 'organizations', query: '', count: undefined },
    { entity: 'clients', query: `organizationId=${org.orgId}`, count: 1 },
    { entity: 'roles', query: `applicationId=${app.id}`, count: 1 },
    { entity: 'audit', query: `organizationId=${org.orgId}`, count: undefined }
  ]
  for (const { entity, query, count } of cases) {
    const path = `${entity}${query ? `?${query}` : ''}`
    const json = await exportJson(ctx, path)
    t.equal(json.status, 200, `${entity} json`)
    t.equal(json.headers['content-type'], 'application/json; charset=utf-8')
    t.match(json.headers['content-disposition'], FILENAME(entity, 'json'))
    t.same(Object.keys(json.json).slice(0, 3), ['data', 'exportedAt', 'total'])
    t.match(json.json.exportedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
    t.equal(json.json.total, json.json.data.length, `${entity}: total is the rows written`)
    if (count !== undefined) t.equal(json.json.total, count, `${entity}: ${count} rows`)
    t.equal(json.json.truncated, entity === 'audit' ? false : undefined)

    const csv = await exportCsv(ctx, path)
    t.equal(csv.status, 200, `${entity} csv`)
    t.equal(csv.headers['content-type'], 'text/csv; charset=utf-8')
    t.match(csv.headers['content-disposition'], FILENAME(entity, 'csv'))
    t.ok(csv.body.endsWith('\r\n'), 'CRLF line ends')
    t.notMatch(csv.body, /[^\r]\n(?!II)/, 'no bare LF outside the quoted multi-line cell')
    t.notMatch(csv.body, /\[object Object\]/)
    t.same(csv.header, Object.keys(json.json.data[0]), `${entity}: CSV header is the JSON field order`)
    // Same rows either way (the audit CSV also holds the JSON export's own event).
    const byId = new Map(csv.rows.map((r) => [r[0], r]))
    for (const row of json.json.data) {
      t.same(byId.get(row.id), Object.values(row).map(expectedCell), `${entity} ${row.id}`)
      for (const [k, v] of Object.entries(row)) if (k.endsWith('_at') && v !== null) t.match(v, ISO, `${entity}.${k}`)
    }
  }

  // Users: the seed's header byte for byte, members of this org only, awkward text intact.
  const users = await exportCsv(ctx, `users?organizationId=${org.orgId}`)
  t.equal(users.body.split('\r\n')[0], SEED_USER_HEADER)
  t.same(users.rows.map((r) => r[0]).sort(), [...org.userIds].sort())
  t.notOk(users.rows.some((r) => other.userIds.includes(r[0]!)))
  const awkward = users.rows.find((r) => r[0] === org.userIds[1])!
  t.same(awkward.slice(1, 9).concat(awkward.slice(11)), [
    awkward[1], 'active', '\'=HYPERLINK("http://evil")', 'Smith, "Jr"\nII', "'@nick", 'fr-FR', 'false', "'+33 1 23 45 67 89",
    '2026-01-15T10:30:00.123456Z', '7'
  ])
  const invited = users.rows.find((r) => r[0] === org.userIds[2])!
  t.same([invited[2], invited[3], invited[11]], ['pending', '', ''], 'nulls are empty cells')

  // Nested values are JSON text in CSV cells and real arrays in JSON.
  const clients = await exportCsv(ctx, `clients?organizationId=${org.orgId}`)
  t.same(JSON.parse(clients.rows[0]![5]!), ['https://a.example.com/cb?x=1,2', 'https://b.example.com/cb'])
  t.equal(clients.rows[0]![4], 'Web, "main"')
  const roles = await exportJson(ctx, `roles?applicationId=${app.id}`)
  t.same(roles.json.data[0].permissions, ['billing:read', 'invoices:*'])
  const audit = await exportCsv(ctx, `audit?organizationId=${org.orgId}`)
  const created = audit.rows.find((r) => r[4] === 'client.created')!
  t.match(JSON.parse(created[8]!), { name: 'Web, "main"', applicationId: app.id })

  const orgs = await exportJson(ctx, 'organizations')
  t.ok(orgs.json.data.some((o: { id: string }) => o.id === org.orgId))
  t.ok(orgs.json.data.some((o: { id: string }) => o.id === other.orgId))
})

t.test('no password hash, client secret, API key or invite token in any export, either format', async (t) => {
  const ctx = await buildTestApp(t)
  const org = await seedOrgWithUsers(ctx)
  const admin = platform(ctx)
  const app = (await ctx.app.inject({ method: 'POST', url: '/api/admin/applications', headers: admin, payload: { slug: randomSlug('app'), name: 'A' } })).json()
  await ctx.app.inject({ method: 'POST', url: `/api/admin/applications/${app.id}/roles`, headers: admin, payload: { slug: 'r', name: 'R' } })
  const client = (await ctx.app.inject({ method: 'POST', url: '/api/admin/clients', headers: admin, payload: { organizationId: org.orgId, name: 'C', redirectUris: ['https://c.example.com/'] } })).json()
  const clientHash = (await ctx.app.db.selectFrom('oauth_clients').select('secret_hash').where('id', '=', client.id).executeTakeFirstOrThrow()).secret_hash
  const key = await insertApiKey(ctx.app.db, { orgId: org.orgId, orgSlug: org.slug, slug: 'k', name: 'K', permissions: ['*'] })
  const secrets = {
    passwordHash: org.passwordHash,
    clientSecret: client.clientSecret as string,
    clientSecretHash: clientHash,
    apiKey: key.raw,
    apiKeySecret: key.raw.split('_').at(-1)!,
    apiKeyHash: key.key.secret_hash,
    inviteTokenHash: org.inviteTokenHash
  }
  t.equal(client.clientSecret.startsWith('ocs_'), true)
  const paths = [`users?organizationId=${org.orgId}`, 'organizations', `clients?organizationId=${org.orgId}`, `roles?applicationId=${app.id}`, `audit?organizationId=${org.orgId}`]
  for (const path of paths) {
    for (const res of [await exportJson(ctx, path), await exportCsv(ctx, path)]) {
      t.equal(res.status, 200, path)
      for (const [name, secret] of Object.entries(secrets)) t.notOk(res.body.includes(secret), `${path}: no ${name}`)
      t.notMatch(res.body, /secret_hash|password_hash|invite_token_hash|clientSecret/, `${path}: no secret column`)
    }
  }
})

t.test('each export writes one audit event: actor, credential kind, org, action, target, request id, time', async (t) => {
  const ctx = await buildTestApp(t)
  const org = await seedOrgWithUsers(ctx)
  const requestId = `req-${randomUUID()}`
  const res = await exportCsv(ctx, `users?organizationId=${org.orgId}`, { ...platform(ctx), 'x-request-id': requestId })
  t.equal(res.status, 200)
  const event = await auditEvent(ctx, 'users.exported', requestId)
  t.match(event, { org_id: org.orgId, actor_kind: 'user', actor_id: String, target_type: 'organization', target_id: org.orgId, created_at: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/ })
  t.match(event.metadata, { format: 'csv', rows: 4, outcome: 'complete' })
  const audit = await exportJson(ctx, `audit?organizationId=${org.orgId}`)
  const shown = audit.json.data.find((e: { request_id: string }) => e.request_id === requestId)
  t.match(shown, { action: 'users.exported', actor_kind: 'user', org_id: org.orgId, metadata: { rows: 4 } })
  t.match(audit.json.data.map((e: { action: string }) => e.action), ['users.exported', 'org.created'], 'newest first')
})
