// npm run build:sdk: compiles orgroster/sdk to dist/ (JavaScript and declarations) and copies
// the generated types beside it, so `import { createOrgroster } from 'orgroster/sdk'` works in
// any project that installs this package, with plain node and without tsx.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('npm run build:sdk   compiles src/sdk to dist/ (the package export orgroster/sdk)')
  process.exit(0)
}
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
rmSync(join(root, 'dist'), { recursive: true, force: true })
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.sdk.json')], { stdio: 'inherit' })
mkdirSync(join(root, 'dist', 'generated'), { recursive: true })
copyFileSync(join(root, 'generated', 'openapi.d.ts'), join(root, 'dist', 'generated', 'openapi.d.ts'))
console.log('built dist/ (orgroster/sdk)')
