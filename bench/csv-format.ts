// npx tsx bench/csv-format.ts: the CSV writer alone (no database, no socket) on 200,000 rows
// shaped like the member export: src/lib/csv.ts (fast-csv's FieldFormatter, page batched)
// against a plain join-and-quote escaper and fast-csv's own stream formatter (one push per
// row), in one run, as rows/s and ratios. Shows what fast-csv costs per million rows.
import { performance } from 'node:perf_hooks'
import { format } from 'fast-csv'
import { csvRecord, cellText } from '../src/lib/csv.ts'

const ROWS = 200_000
const PAGE = 1000
const row = (i: number): unknown[] => [
  '0b3c8a1e-6f0e-4f57-9a4e-5d3c2b1a0f9e', '7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6', `member${i}-1a2b3c4d@example.com`, 'Grace', 'Hopper',
  'Grace Hopper', i % 10 === 0 ? 'admin' : 'member', 'active', 'engineering', 'direct', '2026-11-23T22:11:40.463553Z', null, null,
  '2026-11-23T22:11:40.463553Z', '2026-11-23T22:11:40.463553Z'
]
const pages = Array.from({ length: ROWS / PAGE }, (_, p) => Array.from({ length: PAGE }, (_, i) => row(p * PAGE + i)))

const QUOTE = /[",\r\n]/
function plainRecord (values: readonly unknown[]): string {
  return values.map((v) => { const s = cellText(v); return QUOTE.test(s) ? `"${s.replace(/"/g, '""')}"` : s }).join(',') + '\r\n'
}

async function time (fn: () => Promise<number> | number): Promise<{ seconds: number, bytes: number }> {
  fn() // warm-up
  const t0 = performance.now()
  const bytes = await fn()
  return { seconds: (performance.now() - t0) / 1000, bytes }
}

const ours = await time(() => { let n = 0; for (const page of pages) { let s = ''; for (const r of page) s += csvRecord(r); n += s.length } return n })
const plain = await time(() => { let n = 0; for (const page of pages) { let s = ''; for (const r of page) s += plainRecord(r); n += s.length } return n })
const stream = await time(async () => await new Promise<number>((resolve) => {
  let n = 0
  const f = format({ rowDelimiter: '\r\n' })
  f.on('data', (c: Buffer) => { n += c.length }).on('end', () => resolve(n))
  for (const page of pages) for (const r of page) f.write(r.map(cellText))
  f.end()
}))
console.log(`${ROWS.toLocaleString('en')} rows of 15 cells, formatting only\n`)
console.log('| writer | rows/s | s per million rows | ÷ plain join-and-quote time |\n|---|---|---|---|')
for (const [name, r] of [['plain join-and-quote', plain], ['src/lib/csv.ts (fast-csv FieldFormatter, one string per page)', ours], ['fast-csv format() stream, one push per row', stream]] as const) {
  console.log(`| ${name} | ${Math.round(ROWS / r.seconds).toLocaleString('en')} | ${(r.seconds * 1e6 / ROWS).toFixed(2)} | ${(r.seconds / plain.seconds).toFixed(2)} |`)
}
