// npm run migrate -- up|down|status: applies, reverts (one step) or lists migrations on the
// configured database (DATABASE_URL, else the embedded one under DATA_DIR).
import { writeSync } from 'node:fs'
import { loadConfig } from '../src/config.ts'
import { connectDatabase, exitOnOpenError } from '../src/db/connect.ts'
import { migrator } from '../src/db/migrate.ts'
import { usageError } from './lib/args.ts'

const USAGE = 'npm run migrate -- up|down|status   (default status)'
const args = process.argv.slice(2)
if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) { writeSync(1, `${USAGE}\n`); process.exit(0) }
const command = args[0] ?? 'status'
if (args.length > 1) usageError(USAGE, `Unexpected argument '${args[1]}'`)
if (!['up', 'down', 'status'].includes(command)) usageError(USAGE, `Unknown command '${command}'`)

const config = loadConfig(process.env, true)
const handle = await connectDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR, poolMax: 2, statementTimeoutMs: 600_000 }).catch(exitOnOpenError)
try {
  const m = migrator(handle.db)
  if (command === 'status') {
    for (const info of await m.getMigrations()) console.log(`${info.executedAt ? 'applied' : 'pending'}  ${info.name}`)
  } else {
    const { error, results } = command === 'up' ? await m.migrateToLatest() : await m.migrateDown()
    for (const r of results ?? []) console.log(`${r.status.toLowerCase()}  ${r.direction.toLowerCase()}  ${r.migrationName}`)
    if (error) throw error
  }
} catch (err) {
  console.error((err as Error).message)
  process.exitCode = 1
} finally {
  await handle.close()
}
