import t from 'tap'
import pg from 'pg'
import { bearer, buildTestApp, onPostgres, ownerWithOrg } from './helper.ts'

t.test('a database connection killed mid-request is a 503, and the next request succeeds', { skip: !onPostgres && 'needs a PostgreSQL server whose backends can be terminated' }, async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const url = `/v2/orgs/${owner.slug}/members`
  const locker = new pg.Client({ connectionString: ctx.databaseUrl })
  await locker.connect()
  t.teardown(() => locker.end())
  // Hold the table so the list request waits inside PostgreSQL, then kill its backend.
  await locker.query('begin')
  await locker.query('lock table org_memberships in access exclusive mode')
  const pending = ctx.app.inject({ method: 'GET', url, headers: bearer(owner.token) })
  let victims: number[] = []
  for (let i = 0; i < 100 && victims.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    const { rows } = await locker.query<{ pid: number }>(
      "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'")
    victims = rows.map((r) => r.pid)
  }
  t.ok(victims.length > 0, 'the list request is waiting in the database')
  for (const pid of victims) await locker.query('select pg_terminate_backend($1)', [pid])
  const res = await pending
  await locker.query('rollback')
  t.equal(res.statusCode, 503)
  t.match(res.json(), { error: 'ServiceUnavailableError', message: String, requestId: String })
  t.notMatch(res.body, /terminat|SQL|at .*\.ts/i, 'no database detail leaks')
  t.ok(Number(res.headers['retry-after']) >= 1)
  // The server's FATAL message can arrive before the socket closes; the pool drops the dead
  // client once the close is seen, a moment later.
  await new Promise((resolve) => setTimeout(resolve, 200))
  const again = await ctx.app.inject({ method: 'GET', url, headers: bearer(owner.token) })
  t.equal(again.statusCode, 200, 'the pool replaced the dead connection')
})

t.test('every session of the database killed at once, as a restart does: 503 for the request caught, then served again', { skip: !onPostgres && 'needs a PostgreSQL server whose backends can be terminated' }, async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const url = `/v2/orgs/${owner.slug}/members`
  const list = () => ctx.app.inject({ method: 'GET', url, headers: bearer(owner.token) })
  // Several pooled connections, idle when the "restart" comes.
  t.same((await Promise.all(Array.from({ length: 6 }, list))).map((r) => r.statusCode), [200, 200, 200, 200, 200, 200])
  const locker = new pg.Client({ connectionString: ctx.databaseUrl })
  await locker.connect()
  await locker.query('begin')
  await locker.query('lock table org_memberships in access exclusive mode')
  const pending = list()
  let waiting = false
  for (let i = 0; i < 100 && !waiting; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    const { rows } = await locker.query("select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'")
    waiting = rows.length > 0
  }
  t.ok(waiting, 'the list request is waiting in the database')
  const { rows: killed } = await locker.query<{ n: number }>(
    'select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()')
  t.ok(killed[0]!.n >= 2, `the waiting request's session and the idle pooled ones (${killed[0]!.n})`)
  const res = await pending
  await locker.query('rollback')
  await locker.end()
  t.equal(res.statusCode, 503)
  t.match(res.json(), { error: 'ServiceUnavailableError', message: String, requestId: String })
  t.ok(Number(res.headers['retry-after']) >= 1)
  await new Promise((resolve) => setTimeout(resolve, 200))
  const after = await Promise.all(Array.from({ length: 10 }, list))
  t.same(after.map((r) => r.statusCode), Array(10).fill(200), 'served again without a restart of the service')
  t.equal((await ctx.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
})
