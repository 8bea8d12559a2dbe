// Start-up is never silent (issue 14 item 6): opening or creating the database and migrating it
// are each logged with their duration; a new embedded database is made from the initdb template
// and holds the same schema and data as one made by initdb; a damaged template costs only the
// initdb it would have saved.
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import { buildApp } from '../src/app.ts'
import { loggerOptions } from '../src/lib/logging.ts'
import { openEmbedded, templatePath } from '../src/db/embedded.ts'
import { createTestDatabase, databaseName, onPostgres, testConfig } from './helper.ts'

t.comment(`database: ${databaseName}`)

async function startLogged (env: Record<string, string>): Promise<string[]> {
  const messages: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { for (const l of String(chunk).split('\n').filter(Boolean)) messages.push(JSON.parse(l).msg); cb() } })
  const config = testConfig({ LOG_LEVEL: 'info', ...env })
  const app = await buildApp(config, { logger: { ...(loggerOptions(config) as object), stream } })
  await app.ready()
  await app.close()
  return messages
}

t.test('each phase of opening the database is logged with its duration', async (t) => {
  if (onPostgres) {
    const messages = await startLogged({ DATABASE_URL: await createTestDatabase(t) })
    t.match(messages, [/^database open in \d+\.\d s; migrating$/, /^migrated in \d+\.\d s \(\d+ migrations? applied\)$/])
    return
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'orgroster-startup-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  // npm install makes the template (scripts/prepare.mjs); the data directory's lock files must
  // not make it look used, or every first start would run initdb.
  const templated = existsSync(templatePath())
  const first = await startLogged({ DATA_DIR: dataDir })
  t.match(first[0], new RegExp(`^creating the embedded database in ${dataDir} ${templated ? 'from the template' : '\\(initdb;'}`), 'creating, named as such, from the template when there is one')
  t.match(first.slice(1), [/^database open in \d+\.\d s; migrating$/, /^migrated in \d+\.\d s \(\d+ migrations applied\)$/])
  const again = await startLogged({ DATA_DIR: dataDir })
  t.same(again[0], `opening the embedded database in ${dataDir}`, 'an existing data directory is opened, not created')
  t.match(again[2], /^migrated in \d+\.\d s \(0 migrations applied\)$/)
})

t.test('a database from the template is the one initdb makes; a damaged template is dropped and initdb runs', { skip: onPostgres && 'the template is the embedded database\'s' }, async (t) => {
  const path = templatePath()
  const phases: string[] = []
  const fromTemplate = await openEmbedded({ dataDir: 'memory://', pgliteOptions: {}, onPhase: (m) => phases.push(m) })
  t.ok(existsSync(path), 'the template exists once a database has been made')
  const catalog = 'select count(*)::int as n from pg_catalog.pg_class'
  const made = (await fromTemplate.query<{ n: number }>(catalog)).rows[0]!.n
  await fromTemplate.close()

  // A damaged template, restored afterwards for the other test files running meanwhile.
  const saved = readFileSync(path)
  t.teardown(() => { if (!existsSync(path)) writeFileSync(path, saved) })
  writeFileSync(path, 'not a tarball')
  const dataDir = mkdtempSync(join(tmpdir(), 'orgroster-template-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const damagedPhases: string[] = []
  const byInitdb = await openEmbedded({ dataDir, pgliteOptions: {}, onPhase: (m) => damagedPhases.push(m) })
  t.match(damagedPhases, [/from the template/, /\(initdb;/], 'the template was tried, then initdb ran')
  t.equal((await byInitdb.query<{ n: number }>(catalog)).rows[0]!.n, made, 'the same catalog either way')
  await byInitdb.close()
  t.not(readFileSync(path, 'utf8').slice(0, 13), 'not a tarball', 'the damaged template was replaced by a good one')
})
