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
// RFC 4180's): CopyCsvReader gives them their CRLF, and its SQL applies the formula rule
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

/**
 * Reads PostgreSQL's CSV (COPY ... WITH (FORMAT csv): LF after each record) in the chunks it
 * arrives in, which may cut a record, even a quoted field, anywhere, and writes RFC 4180
 * records: CRLF after each (an LF inside a quoted field stays as it is). Counts the records.
 * With `positioned`, each record's last field is ASCII bookkeeping that never needs quotes (a
 * keyset position): it is left out, and the last record's is kept (`lastField`); a record must
 * then be written into one output buffer.
 */
export class CopyCsvReader {
  /** Records ended so far. */
  records = 0
  /** `positioned` only: the last field of the last record ended so far. */
  lastField: string | null = null
  /** Where in the output buffer of the last write() that ended a record its CRLF ends. */
  recordEnd = 0
  private quoted = false

  constructor (private readonly positioned: boolean) {}

  /** The most bytes `chunk` can take once written (an LF becomes CRLF). */
  static room (chunk: Buffer): number {
    return 2 * chunk.length
  }

  /** Writes `chunk` into `out` from `at` (`room(chunk)` bytes must be free there); returns where it ends. */
  write (chunk: Buffer, out: Buffer, at: number): number {
    let written = at
    let scanned = 0
    let copied = 0
    let nextQuote = chunk.indexOf(QUOTE)
    // The last position field cut in this chunk: its first byte (overwritten by the CRLF) and
    // where the rest still is, read before anything is written over it.
    let positionFirst = -1
    let positionFrom = 0
    let positionTo = 0
    for (;;) {
      if (this.quoted) {
        // A doubled quote inside a field closes and reopens it: the parity stays right.
        if (nextQuote === -1) break
        this.quoted = false
        scanned = nextQuote + 1
        nextQuote = chunk.indexOf(QUOTE, scanned)
        continue
      }
      const lf = chunk.indexOf(LF, scanned)
      if (nextQuote !== -1 && (lf === -1 || nextQuote < lf)) {
        this.quoted = true
        scanned = nextQuote + 1
        nextQuote = chunk.indexOf(QUOTE, scanned)
        continue
      }
      if (lf === -1) break
      written += chunk.copy(out, written, copied, lf)
      if (this.positioned) {
        // The field never holds a comma, so the last comma written starts it (it may have come
        // in an earlier chunk).
        const cut = out.lastIndexOf(COMMA, written - 1)
        positionFirst = out[cut + 1]!
        positionFrom = cut + 2
        positionTo = written
        written = cut
      }
      written += CR_LF.copy(out, written)
      this.recordEnd = written
      this.records++
      copied = scanned = lf + 1
    }
    if (positionFirst !== -1) this.lastField = String.fromCharCode(positionFirst) + out.toString('latin1', positionFrom, positionTo)
    return written + chunk.copy(out, written, copied)
  }
}

/** The importer's side of the formula rule: removes the one leading ' the writer added. */
export function unprefixCell (text: string): string {
  return text.startsWith("'") ? text.slice(1) : text
}
