// Runs orgroster as a child process for benchmarks: `node --import tsx src/server.ts` on a free
// port (the child is node itself, so /proc/<pid>/status is the server's), waits until it
// answers, and reads its peak RSS (VmHWM) before stopping it.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, mkdir } from 'node:fs/promises'
import net from 'node:net'

export interface Server { port: number, child: ChildProcess, stop: () => Promise<void> }

let bundlePath: string | undefined

async function bundle (): Promise<string> {
  if (bundlePath !== undefined) return bundlePath
  // esbuild comes with tsx; the bundle is rebuilt once per benchmark run.
  const { build } = await import('esbuild')
  await build({ entryPoints: ['src/server.ts'], bundle: true, platform: 'node', format: 'esm', packages: 'external', target: 'node20', outfile: 'bench/.build/server.mjs', logLevel: 'warning' })
  bundlePath = 'bench/.build/server.mjs'
  return bundlePath
}

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

/**
 * `bundled`: run an esbuild bundle of src/server.ts with plain node (dependencies stay external),
 * i.e. the server without tsx's loader thread, as a build step would ship it.
 */
export async function startServer (env: Record<string, string>, profile = false, bundled = false): Promise<Server> {
  const port = await freePort()
  if (profile) await mkdir('bench/profiles', { recursive: true })
  const entry = bundled ? [await bundle()] : ['--import', 'tsx', 'src/server.ts']
  const child = spawn(process.execPath, [...(profile ? ['--cpu-prof', '--cpu-prof-dir=bench/profiles'] : []), ...entry], {
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

/** The server's peak resident set size so far, in MB. */
export async function serverPeakRss (server: Server): Promise<number> {
  const status = await readFile(`/proc/${server.child.pid}/status`, 'utf8')
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN)
  return kb / 1024
}
