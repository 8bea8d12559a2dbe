// copyRecords: PostgreSQL's CSV (LF record ends, a bookkeeping last field) into the export's
// records. Properties over arbitrary cells, against csv-parse in strict mode; the database's
// own output is covered by test/member-export.test.ts.
import t from 'tap'
import fc from 'fast-check'
import { parse } from 'csv-parse/sync'
import { copyRecords } from '../src/lib/csv.ts'

/** PostgreSQL's CSV writer: a field with the delimiter, a quote, CR or LF (or an empty string) quoted, quotes doubled. */
function pgCsv (rows: string[][]): Buffer {
  const field = (v: string): string => (v === '' || /[,"\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)
  return Buffer.from(rows.map((r) => r.map(field).join(',') + '\n').join(''))
}

const cell = fc.string({ unit: fc.constantFrom('a', 'é', '😀', ',', '"', '\r', '\n', ' ', "'", '=') })
const position = fc.tuple(fc.date({ noInvalidDate: true }), fc.uuid()).map(([d, id]) => `${d.toISOString()}/${id}`)
const rows = fc.array(fc.tuple(fc.array(cell, { minLength: 1, maxLength: 5 }), position), { maxLength: 20 })

t.test('records keep their cells, lose the last field, end in CRLF; the count and last field are right', async (t) => {
  fc.assert(fc.property(rows, (generated) => {
    const width = generated[0]?.[0].length ?? 1
    const table = generated.map(([cells, pos]) => [...Array.from({ length: width }, (_, i) => cells[i] ?? ''), pos])
    const out = copyRecords(pgCsv(table))
    const text = out.csv.toString('utf8')
    const parsed = parse(text, { record_delimiter: '\r\n', relax_quotes: false, relax_column_count: false }) as string[][]
    return out.records === table.length &&
      (table.length === 0 ? out.lastField === null && text === '' : out.lastField === table.at(-1)!.at(-1) && text.endsWith('\r\n')) &&
      JSON.stringify(parsed) === JSON.stringify(table.map((r) => r.slice(0, -1)))
  }), { numRuns: 500 })
  t.pass('500 generated pages')
})

t.test('an LF inside a quoted field stays; a record end becomes CRLF', async (t) => {
  const out = copyRecords(Buffer.from('"a\nb","say ""hi""",x/1\nplain,"",y/2\n'))
  t.equal(out.csv.toString(), '"a\nb","say ""hi"""\r\nplain,""\r\n')
  t.equal(out.records, 2)
  t.equal(out.lastField, 'y/2')
})
