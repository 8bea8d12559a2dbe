// Failures of the system in the middle of a member import, on PostgreSQL: the import's database
// connection killed (pg_terminate_backend), the server killed with SIGKILL, the role of its
// lines deleted by a concurrent request. Each leaves no new membership, user or audit event;
// where an answer can be sent it says nothing was written, and the next request on the same
// keep-alive connection is answered.
import t from 'tap'
import http from 'node:http'
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createInterface } from 'node:readline'
import pg from 'pg'
import { bearer, JWT_SECRET, onPostgres, ownerWithOrg, type TestApp } from './helper.ts'
import { listenTestApp } from './listen.ts'

const skip = onPostgres ? false : 'needs PostgreSQL (TEST_DATABASE_URL)'

interface Answer { status: number, body: string, reused: boolean }

/** An import whose body is sent in two parts: the first now, the rest when `finish` is called. */
function openImport (port: number, agent: http.Agent | undefined, slug: string, token: string, first: string): { finish: (rest: string) => void, answer: Promise<Answer> } {
  let req!: http.ClientRequest
  const answer = new Promise<Answer>((resolve, reject) => {
    req = http.request({ host: '127.0.0.1', port, agent, method: 'POST', path: `/v2/orgs/${slug}/members/import`, headers: { ...bearer(token), 'content-type': 'text/csv' } }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => resolve({ status: res.statusCode!, body, reused: req.reusedSocket }))
    })
    req.on('error', reject)
  })
  req.write(first)
  return { finish: (rest) => { req.end(rest) }, answer }
}

/** Waits until the import has written batches and waits in its transaction for more of the body. */
async function importInTransaction (db: pg.Client): Promise<number[]> {
  for (let i = 0; i < 600; i++) {
    const { rows } = await db.query<{ pid: number }>(`select pid from pg_stat_activity where datname = current_database()
      and application_name = 'orgroster' and state = 'idle in transaction' and backend_xid is not null`)
    if (rows.length > 0) return rows.map((r) => r.pid)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('the import never waited in its transaction')
}

async function snapshot (db: pg.Client, orgId: string): Promise<Record<string, number>> {
  const one = async (q: string, p: unknown[] = []): Promise<number> => Number((await db.query<{ n: string }>(q, p)).rows[0]!.n)
  return {
    users: await one('select count(*) as n from users'),
    memberships: await one('select count(*) as n from org_memberships where org_id = $1', [orgId]),
    imported: await one("select count(*) as n from audit_events where org_id = $1 and action = 'members.imported'", [orgId])
  }
}

const lines = (n: number, role = ''): string => Array.from({ length: n }, () => `${randomUUID()}@example.com,${role}\r\n`).join('')

async function setup (t: { teardown: (fn: () => unknown) => void }): Promise<{ ctx: TestApp & { baseUrl: string }, owner: Awaited<ReturnType<typeof ownerWithOrg>>, db: pg.Client, port: number }> {
  const ctx = await listenTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const db = new pg.Client({ connectionString: ctx.databaseUrl })
  await db.connect()
  t.teardown(() => db.end())
  return { ctx, owner, db, port: Number(new URL(ctx.baseUrl).port) }
}

t.test('the database connection killed mid-import: 503 saying nothing was written, nothing written, the connection still usable', { skip }, async (t) => {
  const { owner, db, port } = await setup(t)
  const before = await snapshot(db, owner.orgId)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const upload = openImport(port, agent, owner.slug, owner.token, 'email,roleSlug\r\n' + lines(3000))
  const pids = await importInTransaction(db)
  await db.query('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [pids])
  upload.finish(lines(2000))
  const answer = await upload.answer
  t.equal(answer.status, 503)
  t.match(JSON.parse(answer.body), { error: 'ServiceUnavailableError', message: /nothing was written/ })
  t.same(await snapshot(db, owner.orgId), before, 'no membership, user or audit event')
  const next = await new Promise<Answer>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent, path: `/v2/orgs/${owner.slug}`, headers: bearer(owner.token) }, (res) => {
      res.resume().on('end', () => resolve({ status: res.statusCode!, body: '', reused: req.reusedSocket }))
    })
    req.on('error', reject).end()
  })
  t.equal(next.status, 200, 'the next request on the same connection is answered')
  t.ok(next.reused, 'on the same socket')
})

t.test('the role of later lines deleted mid-import: 409 saying nothing was written, nothing written', { skip }, async (t) => {
  const { owner, db, port } = await setup(t)
  const role = await fetch(`http://127.0.0.1:${port}/v2/orgs/${owner.slug}/roles`, {
    method: 'POST', headers: { ...bearer(owner.token), 'content-type': 'application/json' }, body: JSON.stringify({ slug: 'temp', name: 'Temp', permissions: ['orgs:members:read'] })
  })
  t.equal(role.status, 201, 'role temp created')
  const before = await snapshot(db, owner.orgId)
  const upload = openImport(port, undefined, owner.slug, owner.token, 'email,roleSlug\r\n' + lines(3000))
  await importInTransaction(db)
  const deleted = await fetch(`http://127.0.0.1:${port}/v2/orgs/${owner.slug}/roles/temp`, { method: 'DELETE', headers: bearer(owner.token) })
  t.equal(deleted.status, 200, 'the role is deleted while the import runs')
  upload.finish(lines(2000, 'temp'))
  const answer = await upload.answer
  t.equal(answer.status, 409)
  t.match(JSON.parse(answer.body), { error: 'ConflictError', message: /Role temp was deleted while this request ran.*nothing was written/ })
  t.same(await snapshot(db, owner.orgId), before, 'no membership, user or audit event')
})

t.test('the server killed with SIGKILL mid-import: nothing written', { skip }, async (t) => {
  const { ctx, owner, db } = await setup(t)
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'info', PORT: '0', HOST: '127.0.0.1', SEED_DEMO: 'false', JWT_SECRET, DATABASE_URL: ctx.databaseUrl! },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited early with ${code}`)))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /Swagger UI at http:\/\/[^:]+:(\d+)\/docs/.exec(line)
      if (match) resolve(Number(match[1]))
    })
  })
  const before = await snapshot(db, owner.orgId)
  const upload = openImport(port, undefined, owner.slug, owner.token, 'email\r\n' + lines(3000))
  upload.answer.catch(() => {}) // the socket dies with the server
  await importInTransaction(db)
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
  // PostgreSQL rolls the transaction back once it sees the connection gone.
  for (let i = 0; i < 100; i++) {
    const { rows } = await db.query("select 1 from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'")
    if (rows.length === 0) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.same(await snapshot(db, owner.orgId), before, 'no membership, user or audit event')
})
