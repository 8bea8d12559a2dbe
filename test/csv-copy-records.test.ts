// CopyCsvReader: PostgreSQL's CSV (LF record ends, with or without a bookkeeping last field) into
// the export's records, in chunks cut anywhere. Properties over arbitrary cells and chunkings,
// against csv-parse; the database's own output is covered by test/member-export.test.ts.
import t from 'tap'
import fc from 'fast-check'
import { parse } from 'csv-parse/sync'
import { CopyCsvReader } from '../src/lib/csv.ts'

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

/** Every chunk written by one reader, into `outs` buffers in turn (a new one after each `every` chunks). */
function readAll (reader: CopyCsvReader, chunks: Buffer[], out: Buffer, every = Infinity, afterEach = (): void => {}): Buffer {
  const parts: Buffer[] = []
  let written = 0
  chunks.forEach((chunk, i) => {
    if (i > 0 && i % every === 0) { parts.push(Buffer.from(out.subarray(0, written))); written = 0 }
    if (out.length - written < CopyCsvReader.room(chunk)) throw new Error('test buffer too small')
    written = reader.write(chunk, out, written)
    afterEach()
  })
  parts.push(Buffer.from(out.subarray(0, written)))
  return Buffer.concat(parts)
}

const parsed = (text: string): string[][] => parse(text, { record_delimiter: '\r\n', relax_quotes: false, relax_column_count: false }) as string[][]

t.test('positioned: records keep their cells, lose the last field, end in CRLF; the count and last field are right', async (t) => {
  // Written over a buffer full of stale commas, quotes and LFs.
  const stale = Buffer.alloc(1 << 16)
  fc.assert(fc.property(rows, fc.array(fc.nat(), { maxLength: 8 }), (generated, cuts) => {
    const width = generated[0]?.[0].length ?? 1
    const table = generated.map(([cells, pos]) => [...Array.from({ length: width }, (_, i) => cells[i] ?? ''), pos])
    stale.fill(',"\n')
    const reader = new CopyCsvReader(true)
    // After every chunk, even one that ends inside the next record, the last position is right.
    let positionsRight = true
    const check = (): void => { if (reader.lastField !== (reader.records === 0 ? null : table[reader.records - 1]!.at(-1))) positionsRight = false }
    const text = readAll(reader, chunked(pgCsv(table), cuts), stale, Infinity, check).toString('utf8')
    return positionsRight && reader.records === table.length &&
      (table.length === 0 ? reader.lastField === null && text === '' : reader.lastField === table.at(-1)!.at(-1) && text.endsWith('\r\n')) &&
      JSON.stringify(parsed(text)) === JSON.stringify(table.map((r) => r.slice(0, -1)))
  }), { numRuns: 1000 })
  t.pass('1000 generated pages')
})

t.test('unpositioned: every cell kept, the records spread over several buffers, cut anywhere, even inside a quoted field', async (t) => {
  const stale = Buffer.alloc(1 << 16)
  fc.assert(fc.property(rows, fc.array(fc.nat(), { maxLength: 8 }), fc.integer({ min: 1, max: 4 }), (generated, cuts, every) => {
    const width = generated[0]?.[0].length ?? 1
    const table = generated.map(([cells]) => Array.from({ length: width }, (_, i) => cells[i] ?? ''))
    stale.fill(',"\n')
    const reader = new CopyCsvReader(false)
    const text = readAll(reader, chunked(pgCsv(table), cuts), stale, every).toString('utf8')
    return reader.records === table.length && reader.lastField === null && (table.length === 0 || text.endsWith('\r\n')) &&
      JSON.stringify(parsed(text)) === JSON.stringify(table)
  }), { numRuns: 1000 })
  t.pass('1000 generated exports')
})

t.test('an LF inside a quoted field stays; a record end becomes CRLF', async (t) => {
  const positioned = new CopyCsvReader(true)
  t.equal(readAll(positioned, [Buffer.from('"a\nb","say ""hi""",x/1\nplain,"",y/2\n')], Buffer.alloc(100)).toString(), '"a\nb","say ""hi"""\r\nplain,""\r\n')
  t.equal(positioned.records, 2)
  t.equal(positioned.lastField, 'y/2')
  const plain = new CopyCsvReader(false)
  t.equal(readAll(plain, [Buffer.from('"a\nb",x/1\n"'), Buffer.from('\n"\n')], Buffer.alloc(100), 1).toString(), '"a\nb",x/1\r\n"\n"\r\n')
  t.equal(plain.records, 2)
  t.equal(new CopyCsvReader(true).lastField, null)
  t.equal(CopyCsvReader.room(Buffer.from('\n\n')), 4, 'a chunk of LFs alone doubles')
})
