// Error text that echoes input is clipped to the spec's maxLength (1,000 characters), so a caller
// cannot make an error body as large as its request. The contract check of the test app would
// turn an unclipped body into a 500.
import t from 'tap'
import { bearer, buildTestApp, ownerWithOrg } from './helper.ts'

const LONG = 'x'.repeat(5000)

t.test('a 400 naming a 5,000-character unknown property stays within 1,000 characters', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const res = await ctx.app.inject({
    method: 'POST',
    url: `/v2/orgs/${owner.slug}/groups`,
    headers: bearer(owner.token),
    payload: { name: 'Group', slug: 'group', [LONG]: 1 }
  })
  t.equal(res.statusCode, 400)
  const body = res.json()
  t.equal(body.error, 'ValidationError')
  t.match(body.message, /^body\/xxx/)
  t.equal(body.message.length, 1000, 'message clipped')
  t.equal(body.details[0].field.length, 1000, 'field clipped')
  t.match(body.details[0].field, /^body\/xxx/)
})

t.test('an import line failing on a 5,000-character role is reported within 1,000 characters', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const res = await ctx.app.inject({
    method: 'POST',
    url: `/v2/orgs/${owner.slug}/members/import`,
    headers: { ...bearer(owner.token), 'content-type': 'text/csv' },
    payload: `email,roleSlug\r\nada@example.com,${LONG}\r\n`
  })
  t.equal(res.statusCode, 200)
  const { failed, failedCount } = res.json()
  t.equal(failedCount, 1)
  t.equal(failed[0].line, 2)
  // The entry schema's bound (as POST /members says it), not the 5,000 characters echoed.
  t.equal(failed[0].message, 'roleSlug must NOT have more than 63 characters')
})
