// The audit export's date filter: both bounds inclusive, at the precision the caller wrote.
// A date alone (`2026-01-31`) is that whole UTC day; a time without a fraction
// (`...T23:59:59Z`) that whole second; a time with a fraction is exact. Only the end needs the
// distinction: the start of a day or a second is its first instant.
import { ValidationError } from './errors.ts'

export interface AuditDateRange {
  /** created_at >= from */
  from?: string
  /** created_at <= to (an exact end) */
  to?: string
  /** created_at < toBefore (the end of a day or a second) */
  toBefore?: string
}

const DATE_ONLY = /^\d{4}-\d\d-\d\d$/
const FRACTION = /[T t]\d\d:\d\d:\d\d\.\d+/

function invalid (field: string, message: string): ValidationError {
  return new ValidationError(`querystring/${field} ${message}`, [{ field: `querystring/${field}`, message }])
}

/** Milliseconds since the epoch, or a 400 naming the field (the schema already checked the shape). */
function instant (field: string, value: string): number {
  const ms = Date.parse(DATE_ONLY.test(value) ? `${value}T00:00:00Z` : value)
  if (Number.isNaN(ms)) throw invalid(field, 'is not a valid ISO 8601 date or date-time')
  return ms
}

export function auditDateRange (startDate: string | undefined, endDate: string | undefined): AuditDateRange {
  const range: AuditDateRange = {}
  let startMs: number | undefined
  if (startDate !== undefined) {
    startMs = instant('startDate', startDate)
    // The caller's text keeps microseconds a JS Date would drop.
    range.from = DATE_ONLY.test(startDate) ? new Date(startMs).toISOString() : startDate
  }
  if (endDate !== undefined) {
    const endMs = instant('endDate', endDate)
    let lastMs = endMs
    if (DATE_ONLY.test(endDate)) {
      range.toBefore = new Date(endMs + 86_400_000).toISOString()
      lastMs = endMs + 86_400_000 - 1
    } else if (!FRACTION.test(endDate)) {
      range.toBefore = new Date(endMs + 1000).toISOString()
      lastMs = endMs + 999
    } else {
      range.to = endDate
    }
    if (startMs !== undefined && startMs > lastMs) throw invalid('startDate', 'is after endDate')
  }
  return range
}
