// npx tsx bench/profile-summary.ts bench/profiles/<file>.cpuprofile: self time of a V8 CPU
// profile grouped by where the code lives (fast-csv, pg, our CSV writer, GC, ...) and the top
// functions, to see whether fast-csv is what limits the export.
import { readFileSync } from 'node:fs'

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount?: number }
interface Profile { nodes: Node[], samples: number[], timeDeltas: number[] }

const file = process.argv[2]
if (file === undefined) { console.error('usage: tsx bench/profile-summary.ts <file.cpuprofile>'); process.exit(1) }
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map<number, number>()
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))

function area (n: Node): string {
  const { url, functionName } = n.callFrame
  if (functionName === '(garbage collector)') return 'GC'
  if (functionName === '(idle)' || functionName === '(program)') return functionName
  if (url.includes('@fast-csv') || url.includes('fast-csv')) return 'fast-csv'
  if (url.includes('/pg-protocol/') || url.includes('/pg/') || url.includes('pg-types') || url.includes('postgres-')) return 'pg driver'
  if (url.includes('/src/lib/csv.ts')) return 'src/lib/csv.ts'
  if (url.includes('/src/')) return 'src (other)'
  if (url.includes('node_modules')) return `node_modules/${url.split('node_modules/')[1]?.split('/')[0] ?? '?'}`
  if (url.startsWith('node:')) return 'node core'
  return url === '' ? 'native/V8' : 'other'
}

const total = [...self.values()].reduce((a, b) => a + b, 0)
const busy = total - [...self.entries()].filter(([id]) => ['(idle)'].includes(byId.get(id)!.callFrame.functionName)).reduce((a, [, t]) => a + t, 0)
const areas = new Map<string, number>()
const fns = new Map<string, number>()
for (const [id, t] of self) {
  const n = byId.get(id)!
  areas.set(area(n), (areas.get(area(n)) ?? 0) + t)
  const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*\/src\//, 'src/')}:${n.callFrame.lineNumber + 1}`
  fns.set(key, (fns.get(key) ?? 0) + t)
}
const pct = (t: number): string => `${(100 * t / busy).toFixed(1)}%`
console.log(`busy CPU ${(busy / 1e6).toFixed(2)} s of ${(total / 1e6).toFixed(2)} s profiled\n\n| where | share of busy CPU |\n|---|---|`)
for (const [k, t] of [...areas].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`| ${k} | ${pct(t)} |`)
console.log('\n| function | self |\n|---|---|')
for (const [k, t] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`| ${k} | ${pct(t)} |`)
