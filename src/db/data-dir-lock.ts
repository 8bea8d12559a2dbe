// One owner for an embedded database directory: PGlite is a single-process database, and two
// processes on one DATA_DIR lose writes and corrupt it. The owner holds a proper-lockfile lock
// (an atomic mkdir, refreshed every few seconds, so a lock whose holder was killed goes stale)
// and writes its pid beside it; a second process is refused with one line naming the
// directory and that process. A lock whose recorded process is gone is taken over at once.
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import lockfile from 'proper-lockfile'

export class DatabaseOpenError extends Error {}

/** For the commands (npm start, seed, migrate): a DatabaseOpenError is one line on stderr and exit code 1. */
export function exitOnOpenError (err: unknown): never {
  if (err instanceof DatabaseOpenError) {
    console.error(err.message)
    process.exit(1)
  }
  throw err
}

const LOCK = 'orgroster.lock'
const OWNER = 'orgroster.owner'
/** What holding the lock adds to a data directory: not database files. */
export const LOCK_ENTRIES: ReadonlySet<string> = new Set([LOCK, OWNER])

function owner (dir: string): { pid: number, command: string } | null {
  try {
    const parsed = JSON.parse(readFileSync(join(dir, OWNER), 'utf8')) as { pid: number, command: string }
    return Number.isInteger(parsed.pid) ? parsed : null
  } catch {
    return null
  }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Locks `dir` for this process; resolves with the release, or throws a DatabaseOpenError. */
export async function lockDataDir (dir: string): Promise<() => Promise<void>> {
  const lockfilePath = join(dir, LOCK)
  const take = async () => await lockfile.lock(dir, {
    lockfilePath,
    realpath: false,
    stale: 10_000,
    update: 2_000,
    retries: 0,
    // The lock can only be lost if someone removes it by hand; the process keeps running.
    onCompromised: (err) => { process.emitWarning(`the lock on ${dir} was lost: ${err.message}`) }
  })
  let release: () => Promise<void>
  try {
    release = await take()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err
    const holder = owner(dir)
    if (holder !== null && holder.pid !== process.pid && !alive(holder.pid)) {
      // Left by a killed process (its pid is gone): taken over without waiting for it to go stale.
      rmSync(lockfilePath, { recursive: true, force: true })
      release = await take().catch(() => { throw lockedError(dir, owner(dir)) })
    } else {
      throw lockedError(dir, holder)
    }
  }
  writeFileSync(join(dir, OWNER), JSON.stringify({ pid: process.pid, command: process.argv.slice(1).join(' ').slice(0, 200) }))
  return async () => {
    rmSync(join(dir, OWNER), { force: true })
    await release()
  }
}

function lockedError (dir: string, holder: { pid: number, command: string } | null): DatabaseOpenError {
  const who = holder === null ? 'another process' : `process ${holder.pid} (${holder.command})`
  return new DatabaseOpenError(`The embedded database in ${resolve(dir)} is in use by ${who}: stop it first, or use DATABASE_URL`)
}
