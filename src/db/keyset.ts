// The one paginator, for every list of the service. It owns the ordering rule (created_at,
// then id, newest first by default, compared as a row against an index on (scope, created_at
// DESC, id DESC)), the `limit + 1` fetch that tells whether more rows follow, the two paging
// styles (a keyset cursor, or Prisme's `page` as an offset), the cursors and each API family's
// page envelope. Repositories build their filtered query and hand it to `pageQuery`; handlers
// turn the query string into a PageRequest with `pageRequest` and the page into a body with an
// envelope. Two cursor kinds: opaque tokens (base64url, the timestamp's full microsecond text
// and the scope and order they were minted for: a JS Date would drop digits and skip or repeat
// rows at a page boundary), and the public list's item ids (its seed: "ID of the last item"),
// looked up inside the list's scope.
import { sql, type RawBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely'
import { ValidationError } from '../lib/errors.ts'

export interface KeysetPosition {
  createdAt: string
  id: string
}

/** `newest`: created_at desc, id desc (sort=-createdAt); `oldest`: the reverse (sort=createdAt). */
export type Order = 'newest' | 'oldest'

export interface PageRequest {
  limit: number
  order: Order
  /** Keyset style: only rows after this position. */
  after: KeysetPosition | null
  /** Offset style (`page`): rows skipped before the page; 0 for keyset pages. */
  offset: number
}

export interface Page<Row> {
  rows: Row[]
  /** The position of the page's last row when more rows follow, else null. */
  next: KeysetPosition | null
}

/** The qualified columns a list orders by. */
export interface OrderColumns {
  createdAt: string
  id: string
}

export type CursorKind =
  | { kind: 'token', scope: string }
  | { kind: 'id', lookup: (id: string) => Promise<KeysetPosition | undefined> }

const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const CURSOR_FIELD = 'querystring/cursor'

function invalid (field: string, message: string): ValidationError {
  return new ValidationError(`${field} ${message}`, [{ field, message }])
}

export function encodeCursor (scope: string, order: Order, position: KeysetPosition): string {
  return Buffer.from(JSON.stringify([scope, order, position.createdAt, position.id])).toString('base64url')
}

/** The position in a token; a malformed token, or one minted for another list or order, is a 400. */
export function decodeCursor (scope: string, order: Order, raw: string, field = CURSOR_FIELD): KeysetPosition {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'))
  } catch {
    parsed = null
  }
  const [cursorScope, cursorOrder, createdAt, id] = Array.isArray(parsed) && parsed.length === 4 ? parsed : []
  if (typeof cursorScope !== 'string' || (cursorOrder !== 'newest' && cursorOrder !== 'oldest') ||
      typeof createdAt !== 'string' || typeof id !== 'string' || !TIMESTAMP.test(createdAt) || !UUID.test(id)) {
    throw invalid(field, 'is malformed')
  }
  if (cursorScope !== scope) throw invalid(field, 'belongs to another list')
  if (cursorOrder !== order) throw invalid(field, `was issued for sort=${cursorOrder === 'newest' ? '-createdAt' : 'createdAt'}`)
  return { createdAt, id }
}

async function positionOf (cursor: CursorKind, order: Order, raw: string): Promise<KeysetPosition> {
  if (cursor.kind === 'token') return decodeCursor(cursor.scope, order, raw)
  if (!UUID.test(raw)) throw invalid(CURSOR_FIELD, 'must be the id of an item of this list')
  const position = await cursor.lookup(raw.toLowerCase())
  if (position === undefined) throw invalid(CURSOR_FIELD, 'is not the id of an item of this list')
  return position
}

function cursorOf (cursor: CursorKind, order: Order, position: KeysetPosition): string {
  return cursor.kind === 'token' ? encodeCursor(cursor.scope, order, position) : position.id
}

export interface PagingQuery {
  limit?: number
  page?: number
  cursor?: string
  sort?: '-createdAt' | 'createdAt'
}

/** The query string's paging parameters as a PageRequest (the cursor decoded or looked up). */
export async function pageRequest (cursor: CursorKind, query: PagingQuery, defaultLimit: number): Promise<PageRequest> {
  const limit = query.limit ?? defaultLimit
  const order: Order = query.sort === 'createdAt' ? 'oldest' : 'newest'
  if (query.cursor !== undefined && query.page !== undefined) {
    throw invalid('querystring/page', 'cannot be combined with cursor: page by one or the other')
  }
  const after = query.cursor !== undefined ? await positionOf(cursor, order, query.cursor) : null
  return { limit, order, after, offset: query.page !== undefined ? (query.page - 1) * limit : 0 }
}

/** A keyset request newest first, as the exports walk their rows. */
export function keysetRequest (limit: number, after: KeysetPosition | null): PageRequest {
  return { limit, order: 'newest', after, offset: 0 }
}

/** Lists report their total on offset pages and on the first keyset page, not after a cursor. */
export function countsTotal (request: PageRequest): boolean {
  return request.after === null
}

/** `(created_at, id)` beyond the position in the request's order, as one row comparison. */
export function beyond (columns: OrderColumns, order: Order, position: { createdAt: string, id: string }): RawBuilder<SqlBool> {
  const row = sql`(${sql.ref(columns.createdAt)}, ${sql.ref(columns.id)})`
  const at = sql`(${position.createdAt}::timestamptz, ${position.id}::uuid)`
  return order === 'newest' ? sql<SqlBool>`${row} < ${at}` : sql<SqlBool>`${row} > ${at}`
}

/** The ordering rule on a query. */
export function ordered<DB, TB extends keyof DB, O> (query: SelectQueryBuilder<DB, TB, O>, columns: OrderColumns, order: Order): SelectQueryBuilder<DB, TB, O> {
  const direction = order === 'newest' ? 'desc' : 'asc'
  return query.orderBy(sql.ref(columns.createdAt), direction).orderBy(sql.ref(columns.id), direction)
}

/** How many rows a page fetches: one more than it shows, to learn whether more follow. */
export function fetchSize (request: PageRequest): number {
  return request.limit + 1
}

/** The request's page of `query`: after the cursor or at the offset, ordered, one row extra. */
export function pageQuery<DB, TB extends keyof DB, O> (query: SelectQueryBuilder<DB, TB, O>, columns: OrderColumns, request: PageRequest): SelectQueryBuilder<DB, TB, O> {
  let q = request.after !== null ? query.where(beyond(columns, request.order, request.after)) : query
  q = ordered(q, columns, request.order).limit(fetchSize(request))
  return request.offset > 0 ? q.offset(request.offset) : q
}

/** Cuts the extra row off; `next` is the last shown row's position when more follow. */
export function cutPage<Row> (rows: Row[], request: PageRequest, position: (row: Row) => KeysetPosition): Page<Row> {
  if (rows.length <= request.limit) return { rows, next: null }
  rows.length = request.limit
  return { rows, next: position(rows[request.limit - 1] as Row) }
}

/** The public and admin envelope: `{data, pagination: {nextCursor, hasMore}}`. */
export function dataEnvelope<Row, Out> (cursor: CursorKind, request: PageRequest, page: Page<Row>, map: (row: Row) => Out) {
  return {
    data: page.rows.map(map),
    pagination: { nextCursor: page.next ? cursorOf(cursor, request.order, page.next) : null, hasMore: page.next !== null }
  }
}

/** The /v2 envelope (Prisme's `{results, total}` plus `nextCursor`); `total` left out when unknown. */
export function resultsEnvelope<Row, Out> (cursor: CursorKind, request: PageRequest, page: Page<Row>, map: (row: Row) => Out, total: number | undefined) {
  return {
    results: page.rows.map(map),
    ...(total !== undefined ? { total } : {}),
    nextCursor: page.next ? cursorOf(cursor, request.order, page.next) : null
  }
}
