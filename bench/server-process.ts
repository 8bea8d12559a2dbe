// Runs orgroster as a child process for benchmarks: the compiled server, as `npm start` runs it
// (`node dist/src/server.js`, built first with `npm run build`), on a free
// port (the child is node itself, so /proc/<pid>/status is the server's), waits until it
// answers, and reads its peak RSS (VmHWM) before stopping it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFile, mkdir, writeFile } from 'node:fs/promises'
import net from 'node:net'

export interface Server { port: number, child: ChildProcess, stop: () => Promise<void> }

let built = false

/** `npm run build` once per benchmark run, so the server measured is the one `npm start` runs. */
export function buildServer (): void {
  if (built) return
  const { status } = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' })
  if (status !== 0) throw new Error('npm run build failed')
  built = true
}

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

/** The compiled server (`npm start`'s `node dist/src/server.js`) on a free port, with default settings. */
export async function startServer (env: Record<string, string>, profile = false): Promise<Server> {
  buildServer()
  const port = await freePort()
  if (profile) await mkdir('bench/profiles', { recursive: true })
  const child = spawn(process.execPath, [...(profile ? ['--cpu-prof', '--cpu-prof-dir=bench/profiles'] : []), 'dist/src/server.js'], {
    env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'warn', SEED_DEMO: 'false', PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'inherit', 'inherit']
  })
  for (let i = 0; i < 200; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)
    if (up) break
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    port,
    child,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  }
}

/** The server's peak resident set size so far (VmHWM), in MB. */
export async function serverPeakRss (server: Server): Promise<number> {
  return await procStatusMb(server, 'VmHWM')
}

/** The server's resident set size now (VmRSS), in MB. */
export async function serverRss (server: Server): Promise<number> {
  return await procStatusMb(server, 'VmRSS')
}

/**
 * The server's RSS once idle: V8 keeps the heap it grew while starting (the young generation
 * at its largest) until its memory reducer finds the process idle, about 30 s later, and gives
 * it back. Waits for that drop (at least 10 % below the highest RSS seen, then 3 s more), at
 * most `maxMs`; returns the lowest RSS seen, in MB.
 */
export async function settledRss (server: Server, maxMs = 60000): Promise<number> {
  const end = Date.now() + maxMs
  let highest = await serverRss(server)
  let lowest = highest
  let droppedAt: number | null = null
  while (Date.now() < end && (droppedAt === null || Date.now() - droppedAt < 3000)) {
    await new Promise((resolve) => setTimeout(resolve, 500))
    const now = await serverRss(server)
    highest = Math.max(highest, now)
    lowest = Math.min(lowest, now)
    if (droppedAt === null && now < highest * 0.9) droppedAt = Date.now()
  }
  return lowest
}

/** Sets the server's high-water mark (VmHWM) to its RSS now (Linux: clear_refs 5), so the next peak read is the work's. */
export async function resetPeakRss (server: Server): Promise<void> {
  await writeFile(`/proc/${server.child.pid}/clear_refs`, '5')
}

async function procStatusMb (server: Server, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  const status = await readFile(`/proc/${server.child.pid}/status`, 'utf8')
  const kb = Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN)
  return kb / 1024
}
