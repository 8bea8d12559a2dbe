// npm run token -- [--sub SUB] [--email EMAIL] [--name NAME] [--permissions a,b] [--hours N]
// Mints a development JWT with the configured secret. Refuses in production.
import { loadConfig } from '../src/config.ts'
import { resolveJwtKeys } from '../src/lib/jwt-keys.ts'
import { DEV_ADMIN, mintToken, PLATFORM_PERMISSIONS } from '../src/lib/dev-token.ts'
import { parseCommandLine, usageError } from './lib/args.ts'

const USAGE = 'npm run token -- [--sub SUB] [--email EMAIL] [--name NAME] [--permissions a,b] [--hours N]'
const values = parseCommandLine(USAGE, `Mints a development JWT signed with JWT_SECRET (or the development secret under DATA_DIR).

  ${USAGE}

  --sub          subject (default ${DEV_ADMIN.sub}, the owner of the demo org acme)
  --email        email claim (default ${DEV_ADMIN.email} for the default sub)
  --name         name claim
  --permissions  platform permissions, comma-separated ('' for none; default all)
  --hours        lifetime (default 12)`, {
  sub: { type: 'string' }, email: { type: 'string' }, name: { type: 'string' }, permissions: { type: 'string' }, hours: { type: 'string' }
})
const sub = values.sub ?? DEV_ADMIN.sub
const hours = Number(values.hours ?? 12)
if (!Number.isFinite(hours) || hours <= 0) usageError(USAGE, '--hours must be a positive number')

try {
  const config = loadConfig(process.env, true)
  const isDevAdmin = sub === DEV_ADMIN.sub
  const token = mintToken(resolveJwtKeys(config), config, {
    ...(isDevAdmin ? DEV_ADMIN : {}),
    sub,
    ...(values.email ? { email: values.email } : {}),
    ...(values.name ? { name: values.name } : {}),
    permissions: (values.permissions ?? PLATFORM_PERMISSIONS.join(',')).split(',').map((p) => p.trim()).filter(Boolean)
  }, Math.round(hours * 3600))
  console.log(token)
} catch (err) {
  console.error((err as Error).message)
  process.exit(1)
}
