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
// pushes a chunk per row, which PERFORMANCE.md measured as its main cost.
import { FormatterOptions } from '@fast-csv/format'
// Not re-exported by the package index; the version is pinned in package.json.
import { FieldFormatter } from '@fast-csv/format/build/src/formatter/FieldFormatter.js'

export const CRLF = '\r\n'
/** Prepended with ?bom=true, so spreadsheet programs read the file as UTF-8. */
export const BOM = '\uFEFF'

const fieldFormatter = new FieldFormatter(new FormatterOptions({ rowDelimiter: CRLF, quoteColumns: false, quoteHeaders: false }))
const FORMULA_START = /^[=+\-@\t\r']/

/** A value as the text of one cell, before quoting. */
export function cellText (value: unknown): string {
  switch (typeof value) {
    case 'string': return FORMULA_START.test(value) ? `'${value}` : value
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

/** The importer's side of the formula rule: removes the one leading ' the writer added. */
export function unprefixCell (text: string): string {
  return text.startsWith("'") ? text.slice(1) : text
}
