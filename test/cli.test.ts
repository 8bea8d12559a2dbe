// The operator's command line: every npm script answers --help; a bad or missing option is one
// usage line and exit 2; `export` downloads through the SDK with a progress line on a terminal
// only and names the address it could not reach; `token` refuses in production.
import { execFile } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { seedMembers } from '../src/db/seed.ts'
import { formatProgress, progressLine } from '../scripts/lib/progress.ts'
import { databaseName, ownerWithOrg } from './helper.ts'
import { listenTestApp } from './listen.ts'
import pkg from '../package.json' with { type: 'json' }

t.comment(`database: ${databaseName}`)
const root = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)

/** Runs a script as `npm run` would (tsx), without blocking this process's server. */
async function script (name: string, args: string[], env: Record<string, string> = {}) {
  const file = join(root, 'scripts', `${name}.ts`)
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', file, ...args], { cwd: root, env: { ...process.env, ...env }, timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

t.test('every operator script answers --help', async (t) => {
  const scripts = ['token', 'migrate', 'export', 'seed'].filter((s) => s in pkg.scripts)
  t.ok(scripts.includes('export') && scripts.includes('token') && scripts.includes('migrate'))
  for (const name of scripts) {
    const res = await script(name, ['--help'])
    t.equal(res.code, 0, `${name} --help exits 0`)
    t.match(res.stdout, new RegExp(`npm run ${name}`), `${name} --help shows its usage`)
  }
})

t.test('an unknown, malformed or missing option is one usage line on stderr and exit 2, no stack', async (t) => {
  const cases: Array<[string, string[], RegExp]> = [
    ['token', ['--nope'], /^Unknown option '--nope'; usage: npm run token -- /],
    ['token', ['--hours', '0'], /^--hours must be a positive number; usage: npm run token -- /],
    ['token', ['extra'], /^Unexpected argument 'extra'; usage: npm run token -- /],
    ['migrate', ['sideways'], /^Unknown command 'sideways'; usage: npm run migrate -- up\|down\|status/],
    ['migrate', ['up', 'down'], /^Unexpected argument 'down'; usage: npm run migrate -- /],
    ['export', [], /^--org is required; usage: npm run export -- --org SLUG/],
    ['export', ['--org'], /^Option '--org <value>' argument missing; usage: npm run export -- /],
    ['export', ['--org', 'acme', '--colour'], /^Unknown option '--colour'; usage: npm run export -- /],
    // Issue 14: seed without --members created an empty org.
    ['seed', ['--org', 'Quiet Co'], /^--members is required; usage: npm run seed -- --org NAME --members N/],
    ['seed', ['--members', '10'], /^--org is required; usage: npm run seed -- /],
    ['seed', ['--org', 'X', '--members', '1.5'], /^--members must be a whole number from 0 to 10,000,000; usage: /],
    ['seed', ['--org', 'X', '--members', '10', '--fast'], /^Unknown option '--fast'; usage: /]
  ]
  // Seeding would touch this database: the refusals must come before any connection.
  const env = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', DATA_DIR: 'memory://' }
  const results = await Promise.all(cases.map(([name, args]) => script(name, args, env)))
  cases.forEach(([name, args, pattern], i) => {
    const res = results[i]!
    const what = `${name} ${args.join(' ')}`
    t.equal(res.code, 2, `${what}: exit 2`)
    t.match(res.stderr, pattern, what)
    t.equal(res.stderr.trimEnd().split('\n').length, 1, `${what}: one line`)
    t.equal(res.stdout, '', `${what}: nothing on stdout`)
  })
})

t.test('export names the address it could not reach', async (t) => {
  // A port that was free a moment ago: nothing listens there.
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
  const dir = mkdtempSync(join(tmpdir(), 'orgroster-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const res = await script('export', ['--org', 'acme', '--out', join(dir, 'x.csv'), '--url', `http://127.0.0.1:${port}`], { ORGROSTER_TOKEN: 'x.y.z' })
  t.equal(res.code, 1)
  t.match(res.stderr, new RegExp(`^export failed: could not reach http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)$`, 'm'))
  t.notOk(existsSync(join(dir, 'x.csv')))
})

t.test('token refuses to mint in production', async (t) => {
  const res = await script('token', [], { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40) })
  t.equal(res.code, 1)
  t.match(res.stderr, /not minted in production/)
  t.equal(res.stdout, '')
})

t.test('export downloads through the SDK; a summary without a terminal, no progress redraws', async (t) => {
  const ctx = await listenTestApp(t)
  const owner = await ownerWithOrg(ctx)
  await seedMembers(ctx.app.db, owner.orgId, 500)
  const dir = mkdtempSync(join(tmpdir(), 'orgroster-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'members.csv')

  const res = await script('export', ['--org', owner.slug, '--out', out, '--url', ctx.baseUrl], { ORGROSTER_TOKEN: owner.token })
  t.equal(res.code, 0, res.stderr)
  t.equal(readFileSync(out, 'utf8').split('\r\n').length - 2, 501, 'every member and the header')
  t.match(res.stderr, /^501 rows {2}[\d,]+ rows\/s {2}[\d.]+ MB/m)
  t.notMatch(res.stderr, /\r/, 'no redraws when stderr is not a terminal')

  const refused = await script('export', ['--org', owner.slug, '--out', join(dir, 'x.csv'), '--url', ctx.baseUrl], { ORGROSTER_TOKEN: ctx.token() })
  t.equal(refused.code, 1)
  t.match(refused.stderr, /export refused: 404 NotFoundError/)
  t.notOk(existsSync(join(dir, 'x.csv')))
})

t.test('on a terminal, export redraws one progress line', async (t) => {
  const ctx = await listenTestApp(t)
  const owner = await ownerWithOrg(ctx)
  await seedMembers(ctx.app.db, owner.orgId, 200)
  const dir = mkdtempSync(join(tmpdir(), 'orgroster-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'tty.csv')
  // script(1) gives the command a pseudo-terminal, as an operator's shell would.
  const command = `${process.execPath} --import tsx scripts/export.ts --org ${owner.slug} --out ${out} --url ${ctx.baseUrl}`
  const { stdout } = await run('script', ['-qec', command, '/dev/null'], { cwd: root, env: { ...process.env, ORGROSTER_TOKEN: owner.token }, timeout: 60_000 })
  // eslint-disable-next-line no-control-regex -- the progress line's own escape sequence
  t.match(stdout, /\r\x1b\[2K[\d,]+ rows {2}[\d,]+ rows\/s/, 'the line is redrawn in place')
  t.match(stdout, /201 rows .* → /, 'then the summary')
  t.ok(existsSync(out))
})

t.test('progress formatting and throttling', async (t) => {
  t.equal(formatProgress(12345, 3 * 1024 * 1024, 2000), '12,345 rows  6,173 rows/s  3.0 MB  2.0 s')
  const writes: string[] = []
  let clock = 0
  const tty = { isTTY: true, write: (s: string) => { writes.push(s); return true } } as unknown as NodeJS.WriteStream
  const line = progressLine(tty, 200, () => clock)
  line.update(1, 10); clock = 100; line.update(2, 20); clock = 250; line.update(3, 30)
  t.equal(writes.length, 2, 'at most one redraw per interval')
  t.match(line.done(3, 30), /^3 rows/)
  const pipe = { isTTY: false, write: () => { throw new Error('no writes to a pipe') } } as unknown as NodeJS.WriteStream
  progressLine(pipe).update(1, 1)
})
