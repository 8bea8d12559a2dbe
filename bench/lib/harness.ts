// Helpers of the benchmarks: kept and scratch databases, curl as the client, and psql's \copy
// as the reference (the server process itself: bench/server-process.ts).
import { spawn } from 'node:child_process'
import pg from 'pg'

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** Creates the database `url` names when it is missing (and keeps it). */
export async function createDatabaseOf (url: string): Promise<void> {
  const server = new URL(url)
  const name = server.pathname.slice(1)
  server.pathname = '/postgres'
  const admin = new pg.Client({ connectionString: server.toString() })
  await admin.connect()
  const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name])
  if (rowCount === 0) await admin.query(`create database "${name}"`)
  await admin.end()
}

/** The URL of database `name` on the server of `baseUrl`, created when missing (and kept). */
export async function benchDatabase (baseUrl: string, name: string): Promise<string> {
  const url = new URL(baseUrl)
  url.pathname = `/${name}`
  await createDatabaseOf(url.toString())
  return url.toString()
}

/** A new empty database `name` (replacing one left by an earlier run) and how to drop it. */
export async function scratchDatabase (baseUrl: string, name: string): Promise<{ url: string, drop: () => Promise<void> }> {
  const admin = new pg.Client({ connectionString: baseUrl })
  await admin.connect()
  await admin.query(`drop database if exists ${name} with (force)`)
  await admin.query(`create database ${name}`)
  const url = new URL(baseUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      await admin.query(`drop database if exists ${name} with (force)`)
      await admin.end()
    }
  }
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

/**
 * `\copy (query) TO STDOUT WITH CSV HEADER`, output discarded; wall time in seconds. Parallel
 * workers are off, as on the export sessions (and in bench/export.ts), so both sides get one
 * backend.
 */
export async function psqlCopy (url: string, query: string): Promise<{ seconds: number }> {
  const oneLine = query.replace(/\s+/g, ' ')
  const { seconds } = await run('sh', ['-c', 'psql "$BENCH_URL" -X -q -v ON_ERROR_STOP=1 -c \'set max_parallel_workers_per_gather = 0\' -c "$BENCH_COPY" > /dev/null'],
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
