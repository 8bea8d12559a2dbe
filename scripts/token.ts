// npm run token -- [--sub SUB] [--email EMAIL] [--name NAME] [--permissions a,b] [--hours N]
// Mints a development JWT with the configured secret. Refuses in production.
import { parseArgs } from 'node:util'
import { loadConfig } from '../src/config.ts'
import { resolveJwtKeys } from '../src/lib/jwt-keys.ts'
import { DEV_ADMIN, mintToken, PLATFORM_PERMISSIONS } from '../src/lib/dev-token.ts'

const { values } = parseArgs({
  options: {
    sub: { type: 'string', default: DEV_ADMIN.sub },
    email: { type: 'string' },
    name: { type: 'string' },
    permissions: { type: 'string', default: PLATFORM_PERMISSIONS.join(',') },
    hours: { type: 'string', default: '12' },
    help: { type: 'boolean', short: 'h' }
  }
})

if (values.help) {
  console.log(`Mints a development JWT signed with JWT_SECRET (or the development secret under DATA_DIR).

  npm run token -- [--sub SUB] [--email EMAIL] [--name NAME] [--permissions a,b] [--hours N]

  --sub          subject (default ${DEV_ADMIN.sub}, the owner of the demo org acme)
  --email        email claim (default ${DEV_ADMIN.email} for the default sub)
  --name         name claim
  --permissions  platform permissions, comma-separated ('' for none; default all)
  --hours        lifetime (default 12)`)
  process.exit(0)
}

try {
  const config = loadConfig(process.env, true)
  const hours = Number(values.hours)
  if (!Number.isFinite(hours) || hours <= 0) throw new Error('--hours must be a positive number')
  const isDevAdmin = values.sub === DEV_ADMIN.sub
  const token = mintToken(resolveJwtKeys(config), config, {
    ...(isDevAdmin ? DEV_ADMIN : {}),
    sub: values.sub as string,
    ...(values.email ? { email: values.email } : {}),
    ...(values.name ? { name: values.name } : {}),
    permissions: (values.permissions as string).split(',').map((p) => p.trim()).filter(Boolean)
  }, Math.round(hours * 3600))
  console.log(token)
} catch (err) {
  console.error((err as Error).message)
  process.exit(1)
}
