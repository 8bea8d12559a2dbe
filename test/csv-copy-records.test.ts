// copyRecords: PostgreSQL's CSV (LF record ends, a bookkeeping last field) into the export's
// records. Properties over arbitrary cells and chunkings, against csv-parse; the database's own
// output is covered by test/member-export.test.ts.
import t from 'tap'
import fc from 'fast-check'
import { parse } from 'csv-parse/sync'
import { copyRecords } from '../src/lib/csv.ts'

/** PostgreSQL's CSV writer: a field with the delimiter, a quote, CR or LF (or an empty string) quoted, quotes doubled. */
function pgCsv (rows: string[][]): Buffer {
  const field = (v: string): string => (v === '' || /[,"\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)
  return Buffer.from(rows.map((r) => r.map(field).join(',') + '\n').join(''))
}

/** The bytes cut into chunks at the given points, as a socket may deliver them. */
function chunked (bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  return [0, ...at].map((from, i) => bytes.subarray(from, at[i] ?? bytes.length))
}

const cell = fc.string({ unit: fc.constantFrom('a', 'é', '😀', ',', '"', '\r', '\n', ' ', "'", '=') })
const position = fc.tuple(fc.date({ noInvalidDate: true }), fc.uuid()).map(([d, id]) => `${d.toISOString()}/${id}`)
const rows = fc.array(fc.tuple(fc.array(cell, { minLength: 1, maxLength: 5 }), position), { maxLength: 20 })

t.test('records keep their cells, lose the last field, end in CRLF; the count and last field are right', async (t) => {
  // Sometimes written over a reused buffer full of stale commas, quotes and LFs.
  const stale = Buffer.alloc(1 << 16)
  fc.assert(fc.property(rows, fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), (generated, cuts, reuse) => {
    const width = generated[0]?.[0].length ?? 1
    const table = generated.map(([cells, pos]) => [...Array.from({ length: width }, (_, i) => cells[i] ?? ''), pos])
    stale.fill(',"\n')
    const out = copyRecords(chunked(pgCsv(table), cuts), reuse ? stale : undefined)
    const text = out.csv.toString('utf8')
    const parsed = parse(text, { record_delimiter: '\r\n', relax_quotes: false, relax_column_count: false }) as string[][]
    return out.records === table.length && (!reuse || out.buffer === stale) &&
      (table.length === 0 ? out.lastField === null && text === '' : out.lastField === table.at(-1)!.at(-1) && text.endsWith('\r\n')) &&
      JSON.stringify(parsed) === JSON.stringify(table.map((r) => r.slice(0, -1)))
  }), { numRuns: 1000 })
  t.pass('1000 generated pages')
})

t.test('an LF inside a quoted field stays; a record end becomes CRLF', async (t) => {
  const out = copyRecords([Buffer.from('"a\nb","say ""hi""",x/1\nplain,"",y/2\n')])
  t.equal(out.csv.toString(), '"a\nb","say ""hi"""\r\nplain,""\r\n')
  t.equal(out.records, 2)
  t.equal(out.lastField, 'y/2')
  t.same(copyRecords([]), { csv: Buffer.alloc(0), buffer: Buffer.alloc(0), records: 0, lastField: null })
})
