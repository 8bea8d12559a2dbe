// Starts orgroster: reads the environment, builds the app, seeds the demo org on first run,
// listens, and closes gracefully on SIGINT/SIGTERM.
import { writeSync } from 'node:fs'
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig } from './config.ts'
import { exitOnOpenError } from './db/connect.ts'
import { seedDemo } from './db/demo.ts'
import { developmentBanner } from './lib/dev-token.ts'

let config
try {
  config = loadConfig(process.env, true)
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message)
    process.exit(1)
  }
  throw err
}

/** PostgreSQL's 3D000: DATABASE_URL names a database nobody created (orgroster creates tables only). */
function missingDatabase (err: unknown): boolean {
  const cause = err instanceof Error ? err.cause : undefined
  return typeof cause === 'object' && cause !== null && (cause as { code?: unknown }).code === '3D000'
}

let app
try {
  app = await buildApp(config)
} catch (err) {
  // A locked or damaged embedded database: one line saying which directory and what to do.
  if (!missingDatabase(err)) exitOnOpenError(err)
  const name = new URL(config.DATABASE_URL ?? '').pathname.slice(1)
  writeSync(2, `the database "${name}" does not exist: create it first (e.g. createdb ${name}), then start again\n`)
  process.exit(1)
}
const delay = config.SHUTDOWN_DELAY_MS
closeWithGrace({ delay: delay + 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error')
  else app.log.info({ signal, delayMs: delay }, 'closing')
  app.draining = true
  // Keep serving while load balancers see /readyz fail and stop sending new requests here.
  if (signal !== undefined && delay > 0) await new Promise((resolve) => setTimeout(resolve, delay))
  await app.close()
})

if (config.SEED_DEMO && config.NODE_ENV !== 'production') {
  const seeding = performance.now()
  app.log.info('seeding the demo organization "acme" unless it exists')
  const seeded = await seedDemo(app.db)
  app.log.info(seeded ? `seeded the demo organization "acme" in ${((performance.now() - seeding) / 1000).toFixed(1)} s` : 'the demo organization "acme" exists')
}
const address = await app.listen({ port: config.PORT, host: config.HOST })
app.log.info(`Swagger UI at ${address}/docs (database: ${app.database.kind === 'pglite' ? `embedded, ${config.DATA_DIR}` : 'PostgreSQL'})`)
if (config.NODE_ENV !== 'production' && app.jwtKeys.signKey) {
  process.stdout.write(developmentBanner(app, address, config))
}
