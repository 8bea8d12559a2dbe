// Reads a CSV stream (the member import) as records, each with the physical line it starts on,
// in bounded memory. csv-parse does the RFC 4180 work; this file adds what an import needs
// from it: true line numbers, and a malformed record that fails alone.
//
// - A bare quote inside an unquoted field is taken literally, as spreadsheets write it
//   (`Dwayne "The Rock Johnson`): that line is read again on its own with csv-parse's
//   relax_quotes. Relaxed throughout, a quote opened by mistake would pair with such a quote
//   lines later and silently swallow the lines between; strict, that closing quote followed by
//   text is an error, and the line that opened it fails alone.
// - A record csv-parse refuses (a quote never closed, a record over the size limit), or one that
//   spans several lines and has the wrong number of fields (a quote opened by mistake swallowed
//   the next lines), fails alone on its first line, and reading starts again on the line after
//   it: the lines it had swallowed are read as what they are.
// - Line ends are CRLF or LF; a leading BOM is ignored; blank lines are skipped.
// csv-parse counts a CRLF inside a quoted field as two lines, so lines are counted here, on the
// bytes each record spans (its `bytes` offset), and only the bytes of the record being parsed
// are kept.
import { parse, type Parser } from 'csv-parse'
import { parse as parseSync } from 'csv-parse/sync'

export interface CsvRecord {
  /** The 1-based line the record starts on (the header is line 1). */
  line: number
  fields?: string[]
  /** Set instead of `fields` when the record is not valid CSV. */
  error?: string
}

export interface CsvReadOptions {
  /** ',' or ';'; default: ';' when the first line has more of them than commas, else ','. */
  delimiter?: ',' | ';'
  /** The longest record read (bytes); longer ones fail alone. */
  maxRecordBytes?: number
}

const LF = 10
const CR = 13

function countLf (buf: Uint8Array, from = 0, to = buf.length): number {
  let n = 0
  for (let i = from; i < to; i++) if (buf[i] === LF) n++
  return n
}

/** How many bytes of blank lines (LF or CRLF) `buf` starts with. */
function blankPrefix (buf: Uint8Array): number {
  let i = 0
  for (;;) {
    if (buf[i] === LF) i += 1
    else if (buf[i] === CR && buf[i + 1] === LF) i += 2
    else return i
  }
}

const REFUSALS: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: 'a quoted field is never closed',
  CSV_INVALID_CLOSING_QUOTE: 'a closing quote is followed by more text (a stray quote?)',
  INVALID_OPENING_QUOTE: 'a quote inside an unquoted field',
  CSV_MAX_RECORD_SIZE: 'the record is too long (a quoted field never closed?)'
}

function sniff (firstLine: string): ',' | ';' {
  const count = (c: string) => firstLine.split(c).length - 1
  return count(';') > count(',') ? ';' : ','
}

/** The records of a stream of text chunks, in batches (whatever one chunk completed). */
export async function * csvRecords (chunks: AsyncIterable<string>, options: CsvReadOptions = {}): AsyncGenerator<CsvRecord[]> {
  const maxRecordBytes = options.maxRecordBytes ?? 512 * 1024
  let delimiter = options.delimiter
  // The bytes fed to the current parser that no record has consumed yet, and the line they start on.
  let pending: Buffer = Buffer.alloc(0)
  let line = 1
  let expected: number | null = null
  let out: CsvRecord[] = []
  let failure: string | null = null
  let parser: Parser | null = null
  let parsed = 0 // bytes of the current parser's input before `pending`
  let dropping = false

  const took = (fields: string[], end: number): void => {
    if (failure !== null) return
    const span = pending.subarray(0, end - parsed)
    const blank = blankPrefix(span)
    const start = line + countLf(span, 0, blank)
    const inner = countLf(span, blank) - (span[span.length - 1] === LF ? 1 : 0)
    if (expected !== null && inner > 0 && fields.length !== expected) {
      failure = `a quoted field runs from line ${start} to line ${start + inner} and leaves ${fields.length} fields instead of ${expected} (a stray quote?)`
      return
    }
    expected ??= fields.length
    out.push({ line: start, fields })
    line += countLf(span)
    pending = pending.subarray(span.length)
    parsed = end
  }
  let literal = false // the failure is a bare quote in an unquoted field
  const refused = (code: string | undefined): void => {
    if (failure !== null) return
    literal = code === 'INVALID_OPENING_QUOTE'
    failure = REFUSALS[code ?? ''] ?? `not valid CSV (${code ?? 'unknown error'})`
  }
  /** The first line of `text` as one record, bare quotes taken literally; null if it is not one. */
  const relaxed = (text: Buffer): string[] | null => {
    try {
      const rows = parseSync(text, { delimiter: delimiter as string, record_delimiter: ['\r\n', '\n'], relax_quotes: true, relax_column_count: true }) as string[][]
      return rows.length === 1 ? rows[0]! : null
    } catch {
      return null
    }
  }
  const open = (): Parser => {
    parsed = 0
    const p = parse({
      delimiter: delimiter as string,
      record_delimiter: ['\r\n', '\n'],
      relax_column_count: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      max_record_size: maxRecordBytes,
      on_record: (fields: string[], context) => { took(fields, context.bytes); return null },
      on_skip: (err) => { refused(err?.code) }
    })
    p.on('error', (err: Error & { code?: string }) => { refused(err.code) })
    return p
  }
  // The failed record fails on its first line; the parser starts again on the next one.
  const recover = (): void => {
    const blank = blankPrefix(pending)
    const start = line + countLf(pending, 0, blank)
    const next = pending.indexOf(LF, blank)
    const fields = literal && (next >= 0 ? next : pending.length) <= maxRecordBytes ? relaxed(pending.subarray(blank, next < 0 ? pending.length : next + 1)) : null
    if (fields !== null) {
      expected ??= fields.length
      out.push({ line: start, fields })
    } else {
      out.push({ line: start, error: failure as string })
    }
    failure = null
    literal = false
    // A line longer than what has arrived: the rest of it is dropped as it comes.
    dropping = next < 0
    const rest = next < 0 ? pending.length : next + 1
    line += countLf(pending, 0, rest)
    pending = pending.subarray(rest)
    parser?.destroy()
    parser = open()
    if (pending.length > 0) parser.write(pending)
  }
  // A line read again on its own must have arrived whole (or the input ended).
  const ready = (ended: boolean): boolean => failure !== null &&
    (!literal || ended || pending.length > maxRecordBytes || pending.indexOf(LF, blankPrefix(pending)) >= 0)
  const finish = async (p: Parser): Promise<void> => { await new Promise<void>((resolve) => { p.end(() => resolve()) }) }

  let first = true
  let head = ''
  for await (let chunk of chunks) {
    if (first) { chunk = chunk.replace(/^\uFEFF/, ''); first = false }
    if (parser === null) {
      // The delimiter is chosen on the whole first line.
      head += chunk
      if (delimiter === undefined && !head.includes('\n')) continue
      delimiter ??= sniff(head.slice(0, head.indexOf('\n')))
      chunk = head
      parser = open()
    }
    let bytes = Buffer.from(chunk, 'utf8')
    if (dropping) {
      const next = bytes.indexOf(LF)
      if (next < 0) continue
      bytes = bytes.subarray(next + 1)
      line++
      dropping = false
    }
    pending = pending.length === 0 ? bytes : Buffer.concat([pending, bytes])
    if (failure === null) parser.write(bytes)
    while (ready(false)) recover()
    if (out.length > 0) { yield out; out = [] }
  }
  if (parser === null) {
    if (head === '') return
    delimiter ??= sniff(head)
    parser = open()
    pending = Buffer.from(head, 'utf8')
    parser.write(pending)
  }
  for (;;) {
    while (ready(true)) recover()
    await finish(parser)
    if (failure === null) break
  }
  if (out.length > 0) yield out
}
