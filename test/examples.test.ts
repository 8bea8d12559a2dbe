// examples/ as a reader would run them: each is short, and each runs against a live server with
// the demo organization, importing '@orgroster/sdk' like any consumer.
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { seedDemo } from '../src/db/demo.ts'
import { DEV_ADMIN } from '../src/lib/dev-token.ts'
import { databaseName } from './helper.ts'
import { listenTestApp } from './listen.ts'

t.comment(`database: ${databaseName}`)
const dir = fileURLToPath(new URL('../examples/', import.meta.url))
const examples = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort()

t.test('each example is under ten lines of code', async (t) => {
  t.ok(examples.length >= 4)
  for (const file of examples) {
    const code = readFileSync(join(dir, file), 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('//'))
    t.ok(code.length < 10, `${file}: ${code.length} lines`)
    t.match(code.join('\n'), /from '@orgroster\/sdk'/, `${file} imports the package, not a path`)
  }
})

t.test('each example runs against a live server', async (t) => {
  const ctx = await listenTestApp(t)
  await seedDemo(ctx.app.db)
  const cwd = mkdtempSync(join(tmpdir(), 'orgroster-examples-'))
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
  const env = { ...process.env, ORGROSTER_URL: ctx.baseUrl, ORGROSTER_TOKEN: ctx.token({ ...DEV_ADMIN }) }
  const tsx = import.meta.resolve('tsx')
  for (const file of examples) {
    const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=orgroster-source', '--import', tsx, join(dir, file)], { cwd, env, timeout: 60_000 })
    t.ok(stdout.length > 0, `${file} printed something`)
    if (file === 'download-export.ts') t.match(stdout, /^\n?\d+ members written/m)
    if (file === 'errors.ts') t.match(stdout, /^NotFoundError Organization no-such-org not found$/m)
  }
  t.equal(readFileSync(join(cwd, 'acme-members.csv'), 'utf8').split('\r\n')[0], 'id,userId,email,firstName,lastName,fullName,roleSlug,status,groups,joinedVia,joinedAt,invitedBy,invitedAt,createdAt,updatedAt')
})
