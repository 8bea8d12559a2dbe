// The one keyset paginator: newest first by (created_at, id), compared as a row against an
// index on (scope, created_at DESC, id DESC), never OFFSET. Cursors are opaque base64url,
// carry the timestamp's full microsecond text (a JS Date would drop digits and skip or repeat
// rows at a page boundary) and the scope (org, list) they were minted for.
import { sql, type RawBuilder, type SqlBool } from 'kysely'
import { ValidationError } from '../lib/errors.ts'

export interface KeysetPosition {
  createdAt: string
  id: string
}

const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export function encodeCursor (scope: string, position: KeysetPosition): string {
  return Buffer.from(JSON.stringify([scope, position.createdAt, position.id])).toString('base64url')
}

/** The position in `raw`; a malformed cursor or one minted for another scope is a 400. */
export function decodeCursor (scope: string, raw: string, field = 'querystring/cursor'): KeysetPosition {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'))
  } catch {
    parsed = null
  }
  const [cursorScope, createdAt, id] = Array.isArray(parsed) && parsed.length === 3 ? parsed : []
  if (typeof cursorScope !== 'string' || typeof createdAt !== 'string' || typeof id !== 'string' ||
      !TIMESTAMP.test(createdAt) || !UUID.test(id)) {
    throw new ValidationError(`${field} is malformed`, [{ field, message: 'is malformed' }])
  }
  if (cursorScope !== scope) {
    throw new ValidationError(`${field} belongs to another list`, [{ field, message: 'belongs to another list' }])
  }
  return { createdAt, id }
}

/** `(created_at, id) < (cursor)`: rows after the position in newest-first order. */
export function keysetAfter (createdAtColumn: string, idColumn: string, position: KeysetPosition): RawBuilder<SqlBool> {
  return sql<SqlBool>`(${sql.ref(createdAtColumn)}, ${sql.ref(idColumn)}) < (${position.createdAt}::timestamptz, ${position.id}::uuid)`
}

export interface KeysetPage<Row> {
  rows: Row[]
  next: KeysetPosition | null
}

/**
 * Runs `fetch(limit + 1, after)` and cuts the extra row off to learn whether more follow.
 * `fetch` must filter with keysetAfter when `after` is set and order by created_at desc, id desc.
 */
export async function keysetPage<Row extends KeysetPosition> (
  limit: number,
  after: KeysetPosition | null,
  fetch: (limitPlusOne: number, after: KeysetPosition | null) => Promise<Row[]>
): Promise<KeysetPage<Row>> {
  const rows = await fetch(limit + 1, after)
  if (rows.length <= limit) return { rows, next: null }
  rows.length = limit
  const last = rows[limit - 1] as Row
  return { rows, next: { createdAt: last.createdAt, id: last.id } }
}
