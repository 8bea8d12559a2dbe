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
