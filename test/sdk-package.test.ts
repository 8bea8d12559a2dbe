// @orgroster/sdk as a consumer sees it: the workspace package packages/sdk is built and packed
// (`npm pack`), the tarball is installed into a scratch project with npm, which must add at
// most 3 packages (the SDK, openapi-fetch and its helper types), the README's snippet
// type-checks there under `moduleResolution` NodeNext and Bundler with
// `exactOptionalPropertyTypes`, a wrong body is a compile error, and plain node runs the code
// against a listening server.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { listenTestApp } from './listen.ts'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

/** tsc over a scratch project's files with one tsconfig; its diagnostics ('' when clean). */
async function typecheck (dir: string, name: string, compilerOptions: Record<string, unknown>, files: string[]): Promise<string> {
  writeFileSync(join(dir, name), JSON.stringify({
    compilerOptions: { target: 'ES2022', strict: true, exactOptionalPropertyTypes: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules/@types')], ...compilerOptions },
    files
  }))
  try {
    await run(process.execPath, [tsc, '-p', join(dir, name)], { cwd: dir, encoding: 'utf8', timeout: 120_000 })
    return ''
  } catch (err) { return String((err as { stdout: string }).stdout) }
}

t.test('the packed @orgroster/sdk installs alone, type-checks and runs in a scratch project', async (t) => {
  const scratch = mkdtempSync(join(tmpdir(), 'orgroster-scratch-'))
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }))
  // npm pack runs the package's prepack (its build), whose output comes before pack's JSON.
  const { stdout: packed } = await run('npm', ['pack', '--json', '--pack-destination', scratch, '-w', '@orgroster/sdk'], { cwd: root, encoding: 'utf8', timeout: 180_000 })
  const [{ filename, files }] = JSON.parse(packed.slice(packed.search(/^\[/m))) as [{ filename: string, files: Array<{ path: string }> }]
  t.ok(files.every((f) => f.path === 'package.json' || f.path === 'README.md' || f.path.startsWith('dist/')), 'the tarball holds dist/, package.json and README.md only')
  t.ok(files.some((f) => f.path === 'dist/openapi.d.ts'), 'the generated API types are in the tarball')

  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', type: 'module', private: true }))
  const { stdout: installed } = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--json', join(scratch, filename)], { cwd: scratch, encoding: 'utf8', timeout: 180_000 })
  const added = (JSON.parse(installed) as { added: number }).added
  t.ok(added >= 1 && added <= 3, `the install added ${added} packages (at most 3)`)
  const installedNames = readdirSync(join(scratch, 'node_modules')).filter((n) => !n.startsWith('.'))
  t.notOk(installedNames.some((n) => ['fastify', 'kysely', 'pg', '@electric-sql', 'tsx'].includes(n)), `no server dependency installed (${installedNames.join(', ')})`)

  // The README's snippet, as written, plus the raw client and a typed schema.
  const program = `import { createOrgroster, unwrap, type Schemas } from '@orgroster/sdk'
const api = createOrgroster({ baseUrl: process.argv[2] ?? '', token: process.env.ORGROSTER_TOKEN })
const org: Schemas['Organization'] = await unwrap(api.POST('/v2/orgs', { body: { name: 'From scratch' } }))
const roles: string[] = []
for await (const member of api.iterateMembers(org.slug)) roles.push(member.roleSlug ?? '')
const { error } = await api.GET('/v2/orgs/{orgSlug}', { params: { path: { orgSlug: 'nope-' + org.slug } } })
console.log(JSON.stringify({ slug: org.slug, roles, error }))
`
  writeFileSync(join(scratch, 'main.ts'), program)
  // A type error in the consumer (a wrong field) must be caught: the types are real.
  writeFileSync(join(scratch, 'wrong.ts'), "import { createOrgroster } from '@orgroster/sdk'\nawait createOrgroster({ baseUrl: '' }).POST('/v2/orgs', { body: { nom: 'x' } })\n")

  // Five tsc runs at once: two resolutions × (the snippet, the wrong body), and the consumer's
  // build (tsc emitting JavaScript) that plain node then runs.
  const resolutions = [
    ['tsconfig.nodenext.json', { module: 'NodeNext', moduleResolution: 'NodeNext' }],
    ['tsconfig.bundler.json', { module: 'ESNext', moduleResolution: 'Bundler' }]
  ] as const
  const [built, ...checks] = await Promise.all([
    typecheck(scratch, 'tsconfig.build.json', { module: 'NodeNext', moduleResolution: 'NodeNext', noEmit: false, outDir: 'out' }, ['main.ts']),
    ...resolutions.flatMap(([name, options]) => [typecheck(scratch, name, options, ['main.ts']), typecheck(scratch, name.replace('.json', '.wrong.json'), options, ['wrong.ts'])])
  ])
  resolutions.forEach(([, options], i) => {
    t.equal(checks[2 * i], '', `main.ts type-checks (${options.moduleResolution}, exactOptionalPropertyTypes)`)
    t.match(checks[2 * i + 1], /wrong\.ts.*nom/, `a body that does not match the spec is a compile error (${options.moduleResolution})`)
  })
  t.equal(built, '', 'main.ts compiles')
  const ctx = await listenTestApp(t)
  // Asynchronously: the server answers from this process's event loop.
  const { stdout } = await run(process.execPath, [join(scratch, 'out', 'main.js'), ctx.baseUrl], { cwd: scratch, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ORGROSTER_TOKEN: ctx.token() } })
  t.match(JSON.parse(stdout), { slug: /^from-scratch/, roles: ['owner'], error: { error: 'NotFoundError' } })
})
