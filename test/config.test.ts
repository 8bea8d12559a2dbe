import { spawnSync } from 'node:child_process'
import t from 'tap'
import { loadConfig, ConfigError } from '../src/config.ts'

t.test('defaults need no configuration', async (t) => {
  const config = loadConfig({})
  t.match(config, { PORT: 3000, DATA_DIR: '.data', EXPORT_PAGE_SIZE: 1000, NODE_ENV: 'development' })
  t.equal(config.DATABASE_URL, undefined)
})

t.test('a bad value is one line naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'abc' }, /PORT/],
    [{ PORT: '70000' }, /PORT/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
    [{ JWT_SECRET: 'short' }, /JWT_SECRET/],
    [{ EXPORT_PAGE_SIZE: '0' }, /EXPORT_PAGE_SIZE/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ REDIS_URL: 'http://x' }, /REDIS_URL/],
    [{ NODE_ENV: 'production' }, /JWT_SECRET or JWT_PUBLIC_KEY is required/]
  ]
  for (const [env, pattern] of cases) {
    let thrown: unknown
    try { loadConfig(env) } catch (err) { thrown = err }
    t.type(thrown, ConfigError, JSON.stringify(env))
    t.match((thrown as Error).message, pattern)
    t.notMatch((thrown as Error).message, /\n/)
  }
})

t.test('npm start refuses a bad value with one line and a non-zero exit', async (t) => {
  const res = spawnSync(process.execPath, ['--import=tsx', 'src/server.ts'], {
    env: { ...process.env, PORT: 'not-a-port', DATA_DIR: 'memory://' }, encoding: 'utf8', timeout: 60_000
  })
  t.equal(res.status, 1)
  t.equal(res.stderr.trim(), 'invalid configuration: PORT must be integer')
  const prod = spawnSync(process.execPath, ['--import=tsx', 'src/server.ts'], {
    env: { ...process.env, NODE_ENV: 'production', JWT_SECRET: '', DATA_DIR: 'memory://' }, encoding: 'utf8', timeout: 60_000
  })
  t.equal(prod.status, 1)
  t.match(prod.stderr, /JWT_SECRET or JWT_PUBLIC_KEY is required/)
})

// Issue 14: a DATABASE_URL naming a database nobody created printed "migration failed" with a
// stack; now one line says to create it first.
t.test('npm start on a PostgreSQL database that does not exist says to create it', { skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL' }, async (t) => {
  const url = new URL(process.env.TEST_DATABASE_URL!)
  url.pathname = `/orgroster_missing_${process.pid}`
  const res = spawnSync(process.execPath, ['--import=tsx', 'src/server.ts'], {
    env: { ...process.env, DATABASE_URL: url.toString(), JWT_SECRET: 'x'.repeat(40), PORT: '0', SEED_DEMO: 'false' }, encoding: 'utf8', timeout: 180_000
  })
  t.equal(res.status, 1)
  t.equal(res.stderr.trim(), `the database "orgroster_missing_${process.pid}" does not exist: create it first (e.g. createdb orgroster_missing_${process.pid}), then start again`)
})
