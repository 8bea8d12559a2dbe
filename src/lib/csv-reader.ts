// Reads a CSV stream (the member import) as batches of records, each with the physical line it
// starts on, in bounded memory. Record boundaries are found by tracking quote parity (a line
// break inside quotes belongs to the field), fields are parsed by fast-csv a batch at a time,
// and a malformed record fails alone: when fast-csv rejects a batch, its records are parsed one
// by one so the bad ones carry their error and the others go through. CRLF and LF line ends;
// a leading BOM is ignored; blank lines are skipped.
import { parseString } from 'fast-csv'

export interface CsvRecord {
  /** The 1-based line the record starts on (the header is line 1). */
  line: number
  fields?: string[]
  /** Set instead of `fields` when the record is not valid CSV. */
  error?: string
}

interface RawRecord { line: number, text: string, unterminated?: boolean }

async function parseText (text: string): Promise<string[][]> {
  return await new Promise((resolve, reject) => {
    const rows: string[][] = []
    parseString<string[], string[]>(text, { headers: false })
      .on('data', (row: string[]) => rows.push(row))
      .on('error', reject)
      .on('end', () => resolve(rows))
  })
}

async function parseBatch (raw: RawRecord[]): Promise<CsvRecord[]> {
  const whole = raw.every((r) => r.unterminated !== true)
    ? await parseText(raw.map((r) => r.text).join('\n')).catch(() => null)
    : null
  if (whole !== null && whole.length === raw.length) return raw.map((r, i) => ({ line: r.line, fields: whole[i]! }))
  const out: CsvRecord[] = []
  for (const r of raw) {
    if (r.unterminated === true) { out.push({ line: r.line, error: 'unterminated quoted field' }); continue }
    try {
      const rows = await parseText(r.text)
      out.push(rows.length === 1 ? { line: r.line, fields: rows[0]! } : { line: r.line, error: 'not one CSV record' })
    } catch (err) {
      out.push({ line: r.line, error: (err as Error).message.replace(/ at '[\s\S]*$/, '') })
    }
  }
  return out
}

/** Batches of up to `batchSize` records from a stream of text chunks. */
export async function * csvRecordBatches (chunks: AsyncIterable<string>, batchSize: number): AsyncGenerator<CsvRecord[]> {
  let pending: RawRecord[] = []
  let carry = ''
  let inQuotes = false
  let line = 1
  let start = 1
  let first = true
  const take = (text: string, unterminated = false): void => {
    if (text.endsWith('\r') && !unterminated) text = text.slice(0, -1)
    if (text.length > 0) pending.push({ line: start, text, ...(unterminated ? { unterminated } : {}) })
  }
  for await (let chunk of chunks) {
    if (first) { chunk = chunk.replace(/^\uFEFF/, ''); first = false }
    let from = 0
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i)
      if (c === 34) inQuotes = !inQuotes
      else if (c === 10) {
        if (!inQuotes) {
          take(carry + chunk.slice(from, i))
          carry = ''
          from = i + 1
          start = line + 1
        }
        line++
      }
    }
    carry += chunk.slice(from)
    if (pending.length >= batchSize) {
      const ready = pending.splice(0, batchSize)
      yield await parseBatch(ready)
      while (pending.length >= batchSize) yield await parseBatch(pending.splice(0, batchSize))
    }
  }
  take(carry, inQuotes)
  while (pending.length > 0) yield await parseBatch(pending.splice(0, batchSize))
  pending = []
}
