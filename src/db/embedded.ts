// The embedded database (PGlite) and its template. A new PGlite database runs initdb inside
// WebAssembly, which takes most of a first start (several CPU seconds on a 2-core machine, 15-20 s
// of wall time on a busy one) and is the same work every time: the first new database made with
// a PGlite version is dumped to a template under node_modules/.cache/orgroster, and every later
// new database (a new DATA_DIR, each `memory://` one the tests make) is unpacked from it instead.
// A template that cannot be written or read only costs the initdb it would have saved.
import { LOCK_ENTRIES } from './data-dir-lock.ts'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { PGlite, PGliteOptions } from '@electric-sql/pglite'

export interface EmbeddedOptions {
  /** A directory, or `memory://`. */
  dataDir: string
  pgliteOptions: Omit<PGliteOptions, 'dataDir' | 'loadDataDir'>
  /** Told what start-up is doing, for the log. */
  onPhase?: (message: string) => void
}

const require = createRequire(import.meta.url)

/** Where the template of the installed PGlite version lives (beside the package, in node_modules/.cache). */
export function templatePath (): string {
  // node_modules/@electric-sql/pglite/dist/index.cjs (the package exports no package.json)
  const packageDir = dirname(dirname(require.resolve('@electric-sql/pglite')))
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }
  const nodeModules = dirname(dirname(packageDir))
  return join(nodeModules, '.cache', 'orgroster', `pglite-${version}-initdb.tar.gz`)
}

function readTemplate (path: string): Blob | undefined {
  try {
    return new Blob([readFileSync(path)])
  } catch {
    return undefined
  }
}

async function saveTemplate (lite: PGlite, path: string): Promise<void> {
  try {
    const dump = await lite.dumpDataDir('gzip')
    mkdirSync(dirname(path), { recursive: true })
    // Written aside, then renamed: processes starting at once never read half a template.
    const partial = `${path}.${process.pid}.partial`
    writeFileSync(partial, Buffer.from(await dump.arrayBuffer()))
    renameSync(partial, path)
  } catch {}
}

export async function openEmbedded (options: EmbeddedOptions): Promise<PGlite> {
  const { PGlite } = await import('@electric-sql/pglite')
  const memory = options.dataDir === 'memory://'
  const onDisk = memory ? {} : { dataDir: options.dataDir }
  if (!memory) mkdirSync(options.dataDir, { recursive: true })
  if (!memory && existsSync(join(options.dataDir, 'PG_VERSION'))) {
    options.onPhase?.(`opening the embedded database in ${options.dataDir}`)
    return await PGlite.create({ ...onDisk, ...options.pgliteOptions })
  }
  const where = memory ? 'in memory' : `in ${options.dataDir}`
  const path = templatePath()
  // Only into an empty directory (but for the owner's lock): what a failed unpacking leaves can
  // then be cleared safely.
  const template = memory || databaseFiles(options.dataDir).length === 0 ? readTemplate(path) : undefined
  if (template !== undefined) {
    options.onPhase?.(`creating the embedded database ${where} from the template ${path}`)
    try {
      return await PGlite.create({ ...onDisk, ...options.pgliteOptions, loadDataDir: template })
    } catch {
      // A damaged template: drop it, and whatever it began to unpack into the new directory.
      rmSync(path, { force: true })
      if (!memory) for (const entry of databaseFiles(options.dataDir)) rmSync(join(options.dataDir, entry), { recursive: true, force: true })
    }
  }
  options.onPhase?.(`creating the embedded database ${where} (initdb; the first one made with this PGlite version takes longest)`)
  const lite = await PGlite.create({ ...onDisk, ...options.pgliteOptions })
  await saveTemplate(lite, path)
  return lite
}

/** What is in a data directory besides the lock its owning process holds there. */
function databaseFiles (dataDir: string): string[] {
  return readdirSync(dataDir).filter((entry) => !LOCK_ENTRIES.has(entry))
}
