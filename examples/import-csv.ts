// Copy the members of one organization into another: export to a file, import the file.
import { createOrgroster, unwrap } from '@orgroster/sdk'

const api = createOrgroster({ baseUrl: process.env.ORGROSTER_URL ?? 'http://localhost:3000', token: process.env.ORGROSTER_TOKEN })
await api.downloadMemberExport('acme', 'acme-members.csv')
const copy = await unwrap(api.POST('/v2/orgs', { body: { name: 'Acme copy' } }))
const { created, skipped, failed } = await api.importMembersCsv(copy.slug, 'acme-members.csv')
console.log(`${copy.slug}: ${created} created, ${skipped} skipped, ${failed.length} failed`)
