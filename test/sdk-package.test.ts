// orgroster/sdk as a consumer sees it: `npm run build:sdk`, then a scratch project that has the
// package in node_modules type-checks an import of 'orgroster/sdk' (strict, NodeNext) and runs
// it with plain node (no tsx) against a listening server.
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { listenTestApp } from './listen.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

t.test('a scratch TypeScript project imports orgroster/sdk from the built package', async (t) => {
  execFileSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/build-sdk.ts')], { cwd: root, stdio: 'pipe' })
  const scratch = mkdtempSync(join(tmpdir(), 'orgroster-scratch-'))
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }))
  mkdirSync(join(scratch, 'node_modules'))
  // What `npm install ../orgroster` makes: a link to the package.
  symlinkSync(root, join(scratch, 'node_modules', 'orgroster'), 'dir')
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', type: 'module', private: true }))
  writeFileSync(join(scratch, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] },
    files: ['main.ts', 'wrong.ts']
  }))
  const program = `import { createOrgroster, unwrap, type Schemas } from 'orgroster/sdk'
const api = createOrgroster({ baseUrl: process.argv[2]!, token: process.argv[3]! })
const org: Schemas['Organization'] = await unwrap(api.POST('/v2/orgs', { body: { name: 'From scratch' } }))
const { error } = await api.GET('/v2/orgs/{orgSlug}', { params: { path: { orgSlug: 'nope-' + org.slug } } })
console.log(JSON.stringify({ slug: org.slug, error }))
`
  writeFileSync(join(scratch, 'main.ts'), program)
  // A type error in the consumer (a wrong field) must be caught: the types are real.
  writeFileSync(join(scratch, 'wrong.ts'), "import { createOrgroster } from 'orgroster/sdk'\nawait createOrgroster({ baseUrl: '' }).POST('/v2/orgs', { body: { nom: 'x' } })\n")

  // One tsc run over both files: main.ts must be clean, wrong.ts must fail on its field.
  let diagnostics = ''
  try {
    execFileSync(process.execPath, [tsc, '-p', scratch], { cwd: scratch, stdio: 'pipe' })
  } catch (err) { diagnostics = String((err as { stdout: Buffer }).stdout) }
  t.notMatch(diagnostics, /main\.ts/, 'main.ts type-checks against the built declarations')
  t.match(diagnostics, /wrong\.ts.*nom/, 'a body that does not match the spec is a compile error')

  // Plain node runs the same code, compiled by stripping the types as a consumer's build would.
  writeFileSync(join(scratch, 'main.mjs'), program.replace(', type Schemas', '').replace(": Schemas['Organization']", '').replaceAll('!', ''))
  const ctx = await listenTestApp(t)
  // Asynchronously: the server answers from this process's event loop.
  const { stdout } = await promisify(execFile)(process.execPath, [join(scratch, 'main.mjs'), ctx.baseUrl, ctx.token()], { cwd: scratch, encoding: 'utf8', timeout: 60_000 })
  const result = JSON.parse(stdout)
  t.match(result, { slug: /^from-scratch/, error: { error: 'NotFoundError' } })
})
