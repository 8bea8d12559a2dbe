// Errors are values carrying the documented body, or OrgrosterError once unwrapped.
import { createOrgroster, isOrgrosterError, unwrap } from '@orgroster/sdk'

const api = createOrgroster({ baseUrl: process.env.ORGROSTER_URL ?? 'http://localhost:3000', token: process.env.ORGROSTER_TOKEN })
const { error } = await api.GET('/v2/orgs/{orgSlug}', { params: { path: { orgSlug: 'no-such-org' } } })
console.log(error?.error, error?.message) // NotFoundError Organization no-such-org not found
try { await unwrap(api.POST('/v2/orgs', { body: { name: 'x', slug: 'Not A Slug' } })) } catch (err) {
  if (isOrgrosterError(err, 400)) console.log(err.kind, err.body, err.requestId)
}
