// Every member of an organization, page after page (the cursor is handled for you).
import { createOrgroster } from '@orgroster/sdk'

const api = createOrgroster({ baseUrl: process.env.ORGROSTER_URL ?? 'http://localhost:3000', token: process.env.ORGROSTER_TOKEN })
for await (const member of api.iterateMembers('acme', { status: 'active' })) {
  console.log(member.email, member.roleSlug, member.groups?.join(';'))
}
