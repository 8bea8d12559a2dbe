// npm run export -- --org SLUG [--out FILE] ...: downloads an org's member export (CSV) through
// the SDK, with a progress line (rows, rows/s) on a terminal. See --help.
import { createOrgroster, isOrgrosterError, type MemberExportQuery } from '../packages/sdk/src/index.ts'
import { loadConfig } from '../src/config.ts'
import { resolveJwtKeys } from '../src/lib/jwt-keys.ts'
import { DEV_ADMIN, mintToken } from '../src/lib/dev-token.ts'
import { parseCommandLine } from './lib/args.ts'
import { progressLine } from './lib/progress.ts'

const USAGE = 'npm run export -- --org SLUG [--out FILE|-] [--url URL] [--status S] [--columns a,b] [--bom]'
const HELP = `Downloads the member export (CSV) of an organization through @orgroster/sdk.

  ${USAGE}

  --org      the organization's slug (required)
  --out      where to write (default SLUG-members.csv; '-' for standard output)
  --url      the service (default ORGROSTER_URL, else http://127.0.0.1:\${PORT:-3000})
  --status   only members with this status (active, invited, suspended)
  --columns  a subset of the columns, in order (e.g. email,roleSlug)
  --bom      prepend a UTF-8 byte order mark (for spreadsheet programs)

Credential: ORGROSTER_TOKEN (a JWT) or ORGROSTER_API_KEY (an org API key). Without either,
outside production, a development token of ${DEV_ADMIN.sub} (the demo org's owner) is minted
with the local secret, as npm run token does. On a terminal a progress line shows rows, rows/s
and size; a file is written whole or not at all.`

const values = parseCommandLine(USAGE, HELP, {
  org: { type: 'string' }, out: { type: 'string' }, url: { type: 'string' }, status: { type: 'string' }, columns: { type: 'string' }, bom: { type: 'boolean' }
}, ['org'])

function credential (): { token: string } | { apiKey: string } {
  if (process.env.ORGROSTER_API_KEY) return { apiKey: process.env.ORGROSTER_API_KEY }
  if (process.env.ORGROSTER_TOKEN) return { token: process.env.ORGROSTER_TOKEN }
  const config = loadConfig(process.env, true)
  console.error(`(no ORGROSTER_TOKEN: using a development token of ${DEV_ADMIN.sub})`)
  return { token: mintToken(resolveJwtKeys(config), config, DEV_ADMIN, 3600) }
}

const baseUrl = values.url ?? process.env.ORGROSTER_URL ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`
try {
  const api = createOrgroster({ baseUrl, ...credential() })
  const query: MemberExportQuery = {
    ...(values.status ? { status: values.status as MemberExportQuery['status'] } : {}),
    ...(values.columns ? { columns: values.columns } : {}),
    ...(values.bom === true ? { bom: true } : {})
  }
  const out = values.out ?? `${values.org}-members.csv`
  const progress = progressLine(process.stderr)
  const result = await api.downloadMemberExport(values.org, out === '-' ? process.stdout : out, {
    query, onProgress: (p) => progress.update(p.rows, p.bytes)
  })
  console.error(`${progress.done(result.rows, result.bytes)}  → ${out === '-' ? 'standard output' : out}`)
} catch (err) {
  if (isOrgrosterError(err)) console.error(`export refused: ${err.message}`)
  else if (err instanceof TypeError && err.message === 'fetch failed') {
    // fetch's own message names neither the address nor the reason; its cause does.
    const cause = err.cause as { code?: string, message?: string } | undefined
    console.error(`export failed: could not reach ${baseUrl} (${cause?.code ?? cause?.message ?? 'no answer'})`)
  } else console.error(`export failed: ${(err as Error).message}`)
  process.exitCode = 1
}
