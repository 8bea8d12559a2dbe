// OAuth client redirect URIs by an allow rule (issue 11): the forms a blocklist let through are
// refused with a 400 naming the field; ordinary ones are accepted and stored normalized.
import t from 'tap'
import { normalizeRedirectUri } from '../src/lib/redirect-uri.ts'
import { bearer, buildTestApp, databaseName, ownerWithOrg } from './helper.ts'

t.comment(`database: ${databaseName}`)

const REFUSED = [
  'https://*.evil.test/cb',
  'https:evil.test',
  'http:///nohost',
  'https://good.test@evil.test/',
  'https://:pw@evil.test/',
  'view-source:https://good.test/',
  'ms-msdt:/id PCWDiagnostic',
  'http://app.example.com/cb',
  'https://app.example.com/cb#x',
  'https://good.test\\@evil.test/',
  'javascript:alert(1)',
  'data:text/html,x',
  'file:///etc/passwd',
  'myapp:/cb',
  '/relative'
]
const ACCEPTED: Array<[string, string]> = [
  ['https://app.example.com/callback', 'https://app.example.com/callback'],
  ['http://127.0.0.1:8080/cb', 'http://127.0.0.1:8080/cb'],
  ['http://[::1]:8080/cb', 'http://[::1]:8080/cb'],
  ['com.example.app:/oauth', 'com.example.app:/oauth'],
  ['HTTPS://App.Example.COM:443/a/../callback?x=1', 'https://app.example.com/callback?x=1']
]

t.test('the API refuses each form with 400 naming the field, and stores accepted ones normalized', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const headers = bearer(ctx.token({ permissions: ['admin:write', 'client:read'] }))
  for (const uri of REFUSED) {
    const res = await ctx.app.inject({ method: 'POST', url: '/api/admin/clients', headers, payload: { organizationId: owner.orgId, name: 'x', redirectUris: ['https://ok.example.com/', uri] } })
    t.equal(res.statusCode, 400, uri)
    t.match(res.json(), { error: 'ValidationError', message: /^body\/redirectUris\/1 /, details: [{ field: 'body/redirectUris/1' }] }, uri)
  }
  const stored = await ctx.app.db.selectFrom('oauth_clients').select('id').where('org_id', '=', owner.orgId).execute()
  t.same(stored, [], 'no refused client was stored')
  const res = await ctx.app.inject({ method: 'POST', url: '/api/admin/clients', headers, payload: { organizationId: owner.orgId, name: 'ok', redirectUris: ACCEPTED.map(([given]) => given) } })
  t.equal(res.statusCode, 201, res.body)
  t.same(res.json().redirectUris, ACCEPTED.map(([, normal]) => normal))
  const row = await ctx.app.db.selectFrom('oauth_clients').select('redirect_uris').where('org_id', '=', owner.orgId).executeTakeFirstOrThrow()
  t.same(row.redirect_uris, ACCEPTED.map(([, normal]) => normal), 'stored in the normalized form, to be matched exactly')
})

t.test('normalizeRedirectUri says why', async (t) => {
  t.match(normalizeRedirectUri('https://*.evil.test/cb'), { problem: /wildcard/ })
  t.match(normalizeRedirectUri('https:evil.test'), { problem: /host/ })
  t.match(normalizeRedirectUri('http:///nohost'), { problem: /host/ })
  t.match(normalizeRedirectUri('https://good.test@evil.test/'), { problem: /userinfo/ })
  t.match(normalizeRedirectUri('view-source:https://x.test/'), { problem: /reverse-DNS/ })
  t.match(normalizeRedirectUri('http://10.0.0.1/cb'), { problem: /loopback/ })
})
