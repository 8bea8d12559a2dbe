// What the export benchmarks share: a kept benchmark database, the real server in its own
// process (so its peak RSS is its own), curl as the client, and psql's \copy as the reference.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { createSigner } from 'fast-jwt'

const JWT_SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789'

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** The URL of database `name` on the server of `baseUrl`, created when missing (and kept). */
export async function benchDatabase (baseUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: baseUrl })
  await admin.connect()
  const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name])
  if (rowCount === 0) await admin.query(`create database ${name}`)
  await admin.end()
  const url = new URL(baseUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** A compiled query with its $n parameters written in as SQL literals (for psql). */
export function inlineParameters (query: { sql: string, parameters: readonly unknown[] }): string {
  return query.sql.replace(/\$(\d+)/g, (_, n: string) => {
    const value = query.parameters[Number(n) - 1]
    if (typeof value === 'number') return String(value)
    return `'${String(value).replace(/'/g, "''")}'`
  })
}

async function run (command: string, args: string[], env: Record<string, string> = {}): Promise<{ stdout: string, seconds: number }> {
  const started = process.hrtime.bigint()
  return await new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${command} exited with ${code}`))
      else resolve({ stdout, seconds: Number(process.hrtime.bigint() - started) / 1e9 })
    })
  })
}

/** `\copy (query) TO STDOUT WITH CSV HEADER`, output discarded; wall time in seconds. */
export async function psqlCopy (url: string, query: string): Promise<{ seconds: number }> {
  const oneLine = query.replace(/\s+/g, ' ')
  const { seconds } = await run('sh', ['-c', `psql "$BENCH_URL" -X -q -v ON_ERROR_STOP=1 -c "$BENCH_COPY" > /dev/null`],
    { BENCH_URL: url, BENCH_COPY: `\\copy (${oneLine}) TO STDOUT WITH CSV HEADER` })
  return { seconds }
}

export interface Download { seconds: number, ttfb: number, bytes: number, status: number }

/** Downloads with curl to /dev/null; fails on any status but 200. */
export async function curlDownload (url: string, token: string): Promise<Download> {
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-H', `authorization: Bearer ${token}`,
    '-w', '%{http_code} %{time_total} %{time_starttransfer} %{size_download}', url])
  const [status, total, ttfb, bytes] = stdout.trim().split(' ').map(Number) as [number, number, number, number]
  if (status !== 200) throw new Error(`${url} answered ${status}`)
  return { seconds: total, ttfb, bytes, status }
}

export interface BenchServer {
  address: string
  token: string
  /** Current resident set in MB. */
  rssMb: () => number
  /** Samples the RSS every 100 ms until the returned function is called; that resolves the peak in MB. */
  watchRss: () => () => number
  /** Ends the process; resolves its peak RSS since start in MB (VmHWM). */
  stop: () => Promise<number>
}

function statusMb (pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024
}

/**
 * The service in its own process (`node --import tsx src/server.ts`) on a free port.
 * stop() ends it and resolves its peak RSS in MB (VmHWM, read just before the end).
 */
export async function startServer (databaseUrl: string, claims: { permissions: string[] }, env: Record<string, string> = {}): Promise<BenchServer> {
  const port = 3900 + Math.floor(Math.random() * 500)
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1', JWT_SECRET,
      NODE_ENV: 'production', LOG_LEVEL: 'warn', SEED_DEMO: 'false', RATE_LIMIT_MAX: '1000000', ...env
    },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  const address = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${address}/readyz`)).ok) break
    } catch {}
    if (i > 300 || child.exitCode !== null) throw new Error('the server did not start')
    await sleep(100)
  }
  const sign = createSigner({ key: JWT_SECRET, algorithm: 'HS256', expiresIn: 3_600_000 })
  const token = sign({ sub: 'bench-admin', ...claims })
  const pid = child.pid!
  return {
    address,
    token,
    rssMb: () => statusMb(pid, 'VmRSS'),
    watchRss: () => {
      let peak = statusMb(pid, 'VmRSS')
      const timer = setInterval(() => { peak = Math.max(peak, statusMb(pid, 'VmRSS')) }, 100)
      return () => { clearInterval(timer); return Math.max(peak, statusMb(pid, 'VmRSS')) }
    },
    stop: async () => {
      const hwm = statusMb(pid, 'VmHWM')
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
      return hwm
    }
  }
}
