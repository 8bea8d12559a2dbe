// npm run bench:first-start: `npm start`'s first start on an empty data directory (the embedded
// database, the demo org seeded), until /healthz answers: wall time, the server's CPU time by
// then (on a quiet machine the wall time tends to it: start-up is one busy thread), and each
// phase as the server's own log lines time it. Twice: with no template of the initdb'd database
// (the first start made with this PGlite version; the template is moved aside for the run and
// put back), and from the template (every later new data directory).
//   BENCH_ROUNDS (2)
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { templatePath } from '../src/db/embedded.ts'
import { median } from './lib/harness.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const template = templatePath()
const aside = `${template}.bench-aside`

async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

interface Start { wall: number, cpu: number, phases: string[] }

async function firstStart (): Promise<Start> {
  const dataDir = mkdtempSync(join(tmpdir(), 'orgroster-first-start-'))
  const port = await freePort()
  const started = performance.now()
  const startedAt = Date.now()
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'info', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: '', SEED_DEMO: 'true' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const phases: string[] = []
  let out = ''
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
    let nl
    while ((nl = out.indexOf('\n')) !== -1) {
      const line = out.slice(0, nl)
      out = out.slice(nl + 1)
      if (!line.startsWith('{')) continue
      // Timed by the line's own clock: stdout may deliver a line later than it was logged.
      const entry = JSON.parse(line) as { msg: string, time: number }
      if (entry.msg !== 'request') phases.push(`${((entry.time - startedAt) / 1000).toFixed(1)} s: ${entry.msg}`)
    }
  })
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`)
      if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const wall = (performance.now() - started) / 1000
    const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    const cpu = (Number(fields[11]) + Number(fields[12])) / 100 // utime + stime, clock ticks of 1/100 s
    return { wall, cpu, phases }
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
    rmSync(dataDir, { recursive: true, force: true })
  }
}

const results: string[] = []
try {
  for (const variant of ['no template yet (initdb)', 'from the template']) {
    const starts: Start[] = []
    for (let round = 0; round < rounds; round++) {
      if (variant.startsWith('no') && existsSync(template)) renameSync(template, aside)
      const start = await firstStart()
      starts.push(start)
      console.log(`${variant}, round ${round + 1}: ready after ${start.wall.toFixed(1)} s, server CPU ${start.cpu.toFixed(1)} s\n  ${start.phases.join('\n  ')}`)
      if (variant.startsWith('no') && existsSync(aside)) rmSync(template, { force: true })
      if (existsSync(aside)) renameSync(aside, template)
    }
    results.push(`| ${variant} | ${median(starts.map((s) => s.wall)).toFixed(1)} | ${median(starts.map((s) => s.cpu)).toFixed(1)} |`)
  }
} finally {
  if (existsSync(aside)) renameSync(aside, template)
}
console.log(`\nfirst start of \`npm start\` on an empty DATA_DIR until /healthz answers (median of ${rounds})\n`)
console.log('| variant | wall s | server CPU s |')
console.log('|---|---|---|')
for (const line of results) console.log(line)
