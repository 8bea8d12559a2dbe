// npm run build (here) or `npm run build:sdk` (repository root): compiles src/ to dist/ and puts
// the generated API types beside it. src/ imports them from the repository's
// generated/openapi.d.ts (written by `npm run generate` from openapi/swagger.yml, never by hand);
// the package must carry them, so they are copied to dist/openapi.d.ts and the emitted
// declarations are pointed at that copy.
import { execFileSync } from 'node:child_process'
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('..', import.meta.url))
const dist = new URL('../dist/', import.meta.url)
const generated = '../../../generated/openapi.js'
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

rmSync(dist, { recursive: true, force: true })
execFileSync(process.execPath, [tsc, '-p', here], { stdio: 'inherit' })
copyFileSync(new URL('../../../generated/openapi.d.ts', import.meta.url), new URL('openapi.d.ts', dist))
for (const file of readdirSync(dist).filter((name) => name.endsWith('.d.ts'))) {
  const path = new URL(file, dist)
  const text = readFileSync(path, 'utf8')
  if (text.includes(generated)) writeFileSync(path, text.replaceAll(`'${generated}'`, "'./openapi.js'"))
}
console.log('built packages/sdk/dist/')
