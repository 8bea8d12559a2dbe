// A real `npm start` process stopped by SIGTERM in the middle of three exports: /readyz fails
// at once, requests are still served for SHUTDOWN_DELAY_MS, then the exports are cut, the
// process exits 0 within its grace period and leaves no database session behind.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import pg from 'pg'
import t from 'tap'
import { bearer, buildTestApp, databaseName, JWT_SECRET, onPostgres, ownerWithOrg } from './helper.ts'
import { firstChunkThenPause, seedFatMembers, startExport } from './export-helper.ts'

t.comment(`database: ${databaseName}`)

const DELAY_MS = 3000

t.test('SIGTERM during three exports: drain delay, cut transfers, exit 0, no session left', async (t) => {
  // PGlite belongs to one process: the test fills a data directory, closes it, then the server opens it.
  const dataDir = mkdtempSync(join(tmpdir(), 'orgroster-shutdown-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const ctx = await buildTestApp(t, onPostgres ? {} : { DATA_DIR: dataDir })
  const owners = []
  for (let i = 0; i < 3; i++) {
    const owner = await ownerWithOrg(ctx)
    await seedFatMembers(ctx.app, owner.orgId, 1500)
    owners.push(owner)
  }
  await ctx.app.close()

  const env = {
    ...process.env,
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    PORT: '0',
    HOST: '127.0.0.1',
    SEED_DEMO: 'false',
    JWT_SECRET,
    SHUTDOWN_DELAY_MS: String(DELAY_MS),
    EXPORT_PAGE_SIZE: '100',
    EXPORT_STALL_MS: '60000',
    ...(onPostgres ? { DATABASE_URL: ctx.databaseUrl as string } : { DATABASE_URL: '', DATA_DIR: dataDir })
  }
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const logs: Array<Record<string, unknown>> = []
  const address = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited early with ${code}`)))
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.startsWith('{')) return
      const entry = JSON.parse(line) as Record<string, unknown>
      logs.push(entry)
      const match = /^Swagger UI at (http:\/\/[^ ]+)\/docs/.exec(String(entry.msg))
      if (match) resolve(match[1] as string)
    })
  })
  const port = Number(new URL(address).port)

  const exports = await Promise.all(owners.map((o) => startExport(port, o.slug, o.token)))
  // Settled once each transfer is over; the clients stay paused, so the server cannot finish.
  const closed = exports.map((res) => new Promise((resolve) => { res.on('error', () => {}); res.once('close', resolve) }))
  for (const res of exports) {
    t.equal(res.statusCode, 200)
    t.ok((await firstChunkThenPause(res)).startsWith('id,'), 'the export started')
  }

  const signalled = Date.now()
  child.kill('SIGTERM')
  // Within the delay: not ready, but still answering ordinary requests.
  const ready = await fetch(`${address}/readyz`)
  t.equal(ready.status, 503)
  t.same(await ready.json(), { status: 'draining', reason: 'shutting down' })
  const orgs = await fetch(`${address}/v2/orgs`, { headers: bearer(owners[0]!.token) })
  t.equal(orgs.status, 200, 'requests are still served during the drain delay')
  t.ok(Date.now() - signalled < DELAY_MS, 'both answered inside the delay')

  t.equal(await exited, 0, 'clean exit')
  const took = Date.now() - signalled
  for (const res of exports) res.resume()
  await Promise.all(closed)
  t.same(exports.map((res) => res.complete), [false, false, false], 'each client sees a cut transfer, never a short file that looks whole')
  t.ok(took >= DELAY_MS, `kept serving for the delay (${took} ms)`)
  t.ok(took < DELAY_MS + 10_000, `exited within the grace period (${took} ms)`)
  t.equal(logs.filter((e) => e.msg === 'export stopped early' && e.outcome === 'shutdown').length, 3, 'three exports cut by the shutdown')
  t.notOk(logs.some((e) => Number(e.level) >= 50), 'nothing logged as an error')

  if (onPostgres) {
    const client = new pg.Client({ connectionString: ctx.databaseUrl })
    await client.connect()
    t.teardown(() => client.end())
    const sessions = await client.query('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()')
    t.same(sessions.rows, [], 'no database session left')
    const audit = await client.query("select metadata->>'outcome' as outcome from audit_events where action = 'members.exported' order by 1")
    t.same(audit.rows.map((r) => r.outcome), ['shutdown', 'shutdown', 'shutdown'], 'each export audited as cut by the shutdown')
  }
})
