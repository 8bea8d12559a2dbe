// The public member list (by organization id), e.g. with an org API key.
import { createOrgroster, unwrap } from '@orgroster/sdk'

const api = createOrgroster({ baseUrl: process.env.ORGROSTER_URL ?? 'http://localhost:3000', token: process.env.ORGROSTER_TOKEN })
const org = await unwrap(api.GET('/v2/orgs/{orgSlug}', { params: { path: { orgSlug: 'acme' } } }))
for await (const m of api.iteratePublicMembers(org.id)) console.log(m.user.email, m.role, m.deactivatedAt ?? '')
