// The one CSV writer (RFC 4180): CRLF after every record, fields with a comma, quote, CR or LF
// quoted and their quotes doubled (fast-csv's field formatter does the quoting), nulls empty,
// dates ISO 8601 UTC, nested objects and arrays as JSON text (never "[object Object]").
//
// Formula injection: a text cell starting with = + - @ tab CR or ' gets one leading ', which
// spreadsheet programs treat as "this is text". The importer removes exactly one (unprefixCell),
// so every value, one that really starts with ' included, survives a round trip. Numbers and
// booleans are not text cells and are never prefixed.
//
// Rows are formatted into one string per page and written once: fast-csv's stream formatter
// pushes a chunk per row, which PERFORMANCE.md measured as its main cost. The member export
// has its records written by the database instead (COPY ... WITH (FORMAT csv), whose quoting is
// RFC 4180's): copyRecords gives them their CRLF, and its SQL applies the formula rule
// (src/db/member-export.ts, csvCell).
import { FormatterOptions } from '@fast-csv/format'
// Not re-exported by the package index; the version is pinned in package.json.
import { FieldFormatter } from '@fast-csv/format/build/src/formatter/FieldFormatter.js'

export const CRLF = '\r\n'
/** Prepended with ?bom=true, so spreadsheet programs read the file as UTF-8. */
export const BOM = '\uFEFF'

const fieldFormatter = new FieldFormatter(new FormatterOptions({ rowDelimiter: CRLF, quoteColumns: false, quoteHeaders: false }))
/** The first characters that make a text cell a formula to spreadsheet programs (the SQL side: src/db/member-export.ts). */
export const FORMULA_CHARACTERS = ['=', '+', '-', '@', '\t', '\r', "'"] as const
const FORMULA_START = new Set<string>(FORMULA_CHARACTERS)

/** A value as the text of one cell, before quoting. */
export function cellText (value: unknown): string {
  switch (typeof value) {
    case 'string': return FORMULA_START.has(value.charAt(0)) ? `'${value}` : value
    case 'number': case 'bigint': return String(value)
    case 'boolean': return value ? 'true' : 'false'
    case 'undefined': return ''
    case 'object':
      if (value === null) return ''
      if (value instanceof Date) return value.toISOString()
      return cellText(JSON.stringify(value))
    default: return ''
  }
}

/** One record: the values' cells, quoted where needed, joined by commas, ending in CRLF. */
export function csvRecord (values: readonly unknown[]): string {
  let line = ''
  for (let i = 0; i < values.length; i++) {
    if (i > 0) line += ','
    line += fieldFormatter.format(cellText(values[i]), i, false)
  }
  return line + CRLF
}

/** The header record: names are quoted like any field but never prefixed. */
export function csvHeader (names: readonly string[]): string {
  return names.map((name, i) => fieldFormatter.format(name, i, true)).join(',') + CRLF
}

const LF = 0x0a
const QUOTE = 0x22
const COMMA = 0x2c
const CR_LF = Buffer.from(CRLF)

export interface CopyRecords {
  /** The records, each ending in CRLF, without their last field. */
  csv: Buffer
  /** The buffer `csv` is the start of: `into`, or the one allocated when it was too small. */
  buffer: Buffer
  records: number
  /** The last record's last field. */
  lastField: string | null
}

/**
 * Reads a page of PostgreSQL's CSV (COPY ... WITH (FORMAT csv): whole records, LF after each,
 * in the chunks it arrived in) whose last field is ASCII bookkeeping that never needs quotes
 * (e.g. a keyset position): writes the records without that field, each ending in CRLF (an LF
 * inside a quoted field stays as it is), into `into` when it is large enough (so a caller can
 * reuse its buffers) or a new buffer, and counts them.
 */
export function copyRecords (chunks: readonly Buffer[], into?: Buffer): CopyRecords {
  // Never larger than the input: each record loses a comma and its last field, and gains a CR.
  let size = 0
  for (const chunk of chunks) size += chunk.length
  const out = into !== undefined && into.length >= size ? into : Buffer.allocUnsafe(size)
  let written = 0
  let records = 0
  let quoted = false
  // The last record's field: its first byte (overwritten by CRLF) and where the rest still is.
  let lastFirst = 0
  let lastFrom = 0
  let lastTo = 0
  for (const chunk of chunks) {
    let at = 0
    let copied = 0
    let nextQuote = chunk.indexOf(QUOTE)
    for (;;) {
      if (quoted) {
        // A doubled quote inside a field closes and reopens it: the parity stays right.
        if (nextQuote === -1) break
        quoted = false
        at = nextQuote + 1
        nextQuote = chunk.indexOf(QUOTE, at)
        continue
      }
      const lf = chunk.indexOf(LF, at)
      if (nextQuote !== -1 && (lf === -1 || nextQuote < lf)) {
        quoted = true
        at = nextQuote + 1
        nextQuote = chunk.indexOf(QUOTE, at)
        continue
      }
      if (lf === -1) break
      written += chunk.copy(out, written, copied, lf)
      // The field never holds a comma, so the last comma written starts it (it may have come
      // in an earlier chunk).
      const cut = out.lastIndexOf(COMMA, written - 1)
      lastFirst = out[cut + 1]!
      lastFrom = cut + 2
      lastTo = written
      written = cut + CR_LF.copy(out, cut)
      records++
      copied = at = lf + 1
    }
    written += chunk.copy(out, written, copied)
  }
  const lastField = records === 0 ? null : String.fromCharCode(lastFirst) + out.toString('latin1', lastFrom, lastTo)
  return { csv: out.subarray(0, written), buffer: out, records, lastField }
}

/** The importer's side of the formula rule: removes the one leading ' the writer added. */
export function unprefixCell (text: string): string {
  return text.startsWith("'") ? text.slice(1) : text
}
