// npm runs this after `npm install` and `npm ci` in this repository: it compiles the server and
// its scripts to dist/ (`npm run build`), so `npm start` works right after the install. An
// install without dev dependencies (`npm ci --omit=dev`) has no TypeScript; it then keeps the
// dist/ of an earlier build (e.g. one made in a build stage before `npm prune --omit=dev`).
// It then makes the embedded database's template (src/db/embedded.ts) once, so that the first
// `npm start` unpacks a database instead of running PGlite's initdb (most of a first start).
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

let tsc
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
} catch {
  console.log('prepare: TypeScript is not installed (a production install), so dist/ is not rebuilt')
  process.exit(0)
}
console.log('prepare: compiling the server to dist/ (npm run build)')
const { status } = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
if (status !== 0) process.exit(status ?? 1)
console.log('prepare: the embedded database template (made by PGlite initdb once per PGlite version)')
const template = spawnSync(process.execPath, ['--input-type=module', '-e',
  "const { existsSync } = await import('node:fs'); const { openEmbedded, templatePath } = await import('./dist/src/db/embedded.js');" +
  "if (!existsSync(templatePath())) await (await openEmbedded({ dataDir: 'memory://', pgliteOptions: {} })).close()"
], { stdio: 'inherit' })
// Without a template the first start runs initdb itself: slower, never broken.
if (template.status !== 0) console.log('prepare: no template made; the first npm start will run initdb')
