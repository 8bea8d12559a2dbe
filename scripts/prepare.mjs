// npm runs this after `npm install` and `npm ci` in this repository: it compiles the server and
// its scripts to dist/ (`npm run build`), so `npm start` works right after the install. An
// install without dev dependencies (`npm ci --omit=dev`) has no TypeScript; it then keeps the
// dist/ of an earlier build (e.g. one made in a build stage before `npm prune --omit=dev`).
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
process.exit(status ?? 1)
