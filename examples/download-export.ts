// Download the member export of an organization to a file (written whole or not at all).
import { createOrgroster } from '@orgroster/sdk'

const api = createOrgroster({ baseUrl: process.env.ORGROSTER_URL ?? 'http://localhost:3000', token: process.env.ORGROSTER_TOKEN })
const { rows, filename } = await api.downloadMemberExport('acme', 'acme-members.csv', {
  onProgress: ({ rows }) => process.stderr.write(`\r${rows} rows`)
})
console.log(`\n${rows} members written to acme-members.csv (the server named it ${filename})`)
