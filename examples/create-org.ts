// Create an organization and read it back; errors come back as documented bodies.
import { createOrgroster, unwrap } from '@orgroster/sdk'

const api = createOrgroster({ baseUrl: process.env.ORGROSTER_URL ?? 'http://localhost:3000', token: process.env.ORGROSTER_TOKEN })
const org = await unwrap(api.POST('/v2/orgs', { body: { name: 'Example Org' } }))
const { data, error } = await api.GET('/v2/orgs/{orgSlug}', { params: { path: { orgSlug: org.slug } } })
console.log(data ?? error)
