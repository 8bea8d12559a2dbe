// The embedded database has one owner: seed, migrate and a second server on a DATA_DIR that a
// running server holds refuse with one line naming the directory and that process, and leave
// its data intact; a lock left by a killed process is taken over; a damaged directory says so.
// Real processes on the embedded database (whatever TEST_DATABASE_URL says).
import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { randomBytes } from 'node:crypto'
import { JWT_SECRET } from './helper.ts'

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

const env = (dataDir: string): NodeJS.ProcessEnv => ({
  ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'info', PORT: '0', HOST: '127.0.0.1', SEED_DEMO: 'false', JWT_SECRET, DATABASE_URL: '', DATA_DIR: dataDir
})

async function startServer (dataDir: string): Promise<{ child: ChildProcess, port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env: env(dataDir), stdio: ['ignore', 'pipe', 'inherit'] })
  const address = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited early with ${code}`)))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /Swagger UI at (http:\/\/[^ "]+)\/docs/.exec(line)
      if (match) resolve(match[1]!)
    })
  })
  return { child, port: Number(new URL(address).port) }
}

function run (dataDir: string, args: string[]): { status: number | null, stderr: string } {
  const res = spawnSync(process.execPath, ['--import', 'tsx', ...args], { env: env(dataDir), encoding: 'utf8', timeout: 120_000 })
  return { status: res.status, stderr: res.stderr }
}

const token = (sub: string): string => {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/token.ts', '--sub', sub, '--email', `${sub}@example.com`], { env: env('memory://'), encoding: 'utf8' })
  return res.stdout.trim().split('\n').pop()!
}

t.test('seed, migrate and a second server refuse a locked DATA_DIR; the holder\'s data stays; a killed holder\'s lock is taken over', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'orgroster-lock-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const server = await startServer(dataDir)
  t.teardown(() => { if (server.child.exitCode === null) server.child.kill('SIGKILL') })
  const auth = { authorization: `Bearer ${token('lock-owner')}`, 'content-type': 'application/json' }
  const slug = `lock-${randomBytes(4).toString('hex')}`
  const created = await fetch(`http://127.0.0.1:${server.port}/v2/orgs`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'Lock test', slug }) })
  t.equal(created.status, 201)

  const refusal = new RegExp(`^The embedded database in ${escape(dataDir)} is in use by process ${server.child.pid} \\(.*\\): stop it first, or use DATABASE_URL\\n$`)
  for (const [name, args] of [['seed', ['scripts/seed.ts', '--org', 'Seeded', '--members', '10']], ['migrate', ['scripts/migrate.ts', 'up']], ['second server', ['src/server.ts']]] as const) {
    const res = run(dataDir, [...args])
    t.equal(res.status, 1, `${name} exits 1`)
    t.match(res.stderr, refusal, `${name}: one line naming the directory and the holder`)
  }
  const still = await fetch(`http://127.0.0.1:${server.port}/v2/orgs/${slug}`, { headers: auth })
  t.equal(still.status, 200, 'the running server still has its data')
  const seeded = await fetch(`http://127.0.0.1:${server.port}/v2/orgs/seeded`, { headers: auth })
  t.equal(seeded.status, 404, 'the refused seed wrote nothing')

  // Killed: its lock stays behind, refreshed no more, and its pid is gone.
  const exited = new Promise((resolve) => server.child.once('exit', resolve))
  server.child.kill('SIGKILL')
  await exited
  const status = run(dataDir, ['scripts/migrate.ts', 'status'])
  t.equal(status.status, 0, `migrate runs at once after the holder was killed: ${status.stderr}`)
  const again = await startServer(dataDir)
  t.teardown(() => { if (again.child.exitCode === null) again.child.kill('SIGKILL') })
  t.equal((await fetch(`http://127.0.0.1:${again.port}/v2/orgs/${slug}`, { headers: auth })).status, 200, 'the data survived')
  const stopped = new Promise((resolve) => again.child.once('exit', resolve))
  again.child.kill('SIGTERM')
  await stopped
})

t.test('a damaged data directory: one line naming it, that it looks damaged and what to do', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'orgroster-damaged-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  writeFileSync(join(dataDir, 'PG_VERSION'), '17\n')
  mkdirSync(join(dataDir, 'global'))
  writeFileSync(join(dataDir, 'global', 'pg_control'), randomBytes(8192))
  for (const args of [['scripts/migrate.ts', 'status'], ['src/server.ts']]) {
    const res = run(dataDir, args)
    t.equal(res.status, 1, args.join(' '))
    t.match(res.stderr, new RegExp(`^The embedded database in ${escape(dataDir)} could not be opened and looks damaged \\(.*\\): restore it from a backup, or move it away to start with an empty one \\(or use DATABASE_URL\\)\\n$`), args.join(' '))
  }
})
