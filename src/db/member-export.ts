// The member export (DESIGN.md section 6): newest first, through an export session (one COPY
// statement on PostgreSQL, keyset pages on the embedded database), its records written by the
// database's own CSV writer (COPY ... WITH (FORMAT csv)), so no row becomes a JavaScript value:
// the bytes go from the database connection to the socket. Every timestamp is ISO 8601 text
// from SQL, a member's group slugs are aggregated in the same statement, and the formula rule of
// src/lib/csv.ts is applied in SQL (csvCell).
import { sql, type Kysely } from 'kysely'
import type { Database, MembershipStatus } from './schema.ts'
import { beyond, ordered, type KeysetPosition } from './keyset.ts'
import { containing } from '../lib/text.ts'
import { CopyCsvReader, FORMULA_CHARACTERS } from '../lib/csv.ts'
import type { DatabaseHandle } from './connect.ts'
import { isoText as iso, openExportSession, type ExportSession } from './export-session.ts'
import type { EncodedPage } from '../lib/export-stream.ts'

export const MEMBER_EXPORT_COLUMNS = [
  'id', 'userId', 'email', 'firstName', 'lastName', 'fullName', 'roleSlug', 'status', 'groups',
  'joinedVia', 'joinedAt', 'invitedBy', 'invitedAt', 'createdAt', 'updatedAt'
] as const
export type MemberExportColumn = typeof MEMBER_EXPORT_COLUMNS[number]

/** The free-text cells, which the formula rule guards (the others are ids, enums and timestamps). */
const TEXT_COLUMNS: ReadonlySet<MemberExportColumn> = new Set(['email', 'firstName', 'lastName', 'fullName', 'roleSlug', 'groups'])

export interface MemberExportFilters {
  status?: MembershipStatus
  roleSlug?: string
  group?: string
  q?: string
  createdAfter?: string
  createdBefore?: string
}

export interface MemberExportOptions {
  pageSize: number
  maxSeconds: number
  stallMs: number
  /** Concurrent exports allowed per organization. */
  slots: number
}

const ORDER = { createdAt: 'm.created_at', id: 'm.id' }

// Pages per statement on the embedded database: each statement is planned and seeks its start
// in the index again, which at one page (1,000 rows) per statement was a fifth of the export's
// CPU (bench/export-embedded.ts); ten pages of output (about 3 MB) are held in memory at once.
const EMBEDDED_STATEMENT_PAGES = 10

// The formula characters' code points: comparing ascii() (the first character's) with integers
// costs less than half of comparing left(cell, 1) with texts (all of them are ASCII). All are
// below the first letter's, so a cell starting with a letter (most) costs one comparison.
const FORMULA_CODES = FORMULA_CHARACTERS.map((c) => c.charCodeAt(0))
const ABOVE_FORMULA_CODES = Math.max(...FORMULA_CODES) + 1

/** The formula rule (src/lib/csv.ts) in SQL: a text cell starting with = + - @ tab CR or ' gets one leading '. */
function csvCell (column: string) {
  const ref = sql.ref(column)
  const first = sql`ascii(${ref})`
  return sql<string | null>`case when ${first} < ${sql.lit(ABOVE_FORMULA_CODES)} and ${first} = any(${sql.val(FORMULA_CODES)}::int[]) then '''' || ${ref} else ${ref} end`
}

/** The last field of every record: the row's keyset position, `created_at/id`, which never needs quotes. */
const POSITION = 'position'

function positionOf (field: string): KeysetPosition {
  const slash = field.lastIndexOf('/')
  return { createdAt: field.slice(0, slash), id: field.slice(slash + 1) }
}

/** One export statement: the rows after `after` (from the first when null), at most `limit` (all when null). */
export interface ExportStatement {
  after: KeysetPosition | null
  limit: number | null
}

/**
 * The CSV cells of one export statement: the chosen columns in their order and, when the
 * statement has a limit (another may follow it), the row's position last. bench/export.ts runs
 * the whole export's statement as its COPY reference.
 */
export function memberCsvQuery (
  db: Kysely<Database>, orgId: string, f: MemberExportFilters, columns: readonly MemberExportColumn[], statement: ExportStatement
) {
  const cells = db.selectFrom('org_memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select([
      'm.id as id', 'm.user_id as userId', sql<string | null>`coalesce(u.email, m.invite_email)`.as('email'),
      'u.given_name as firstName', 'u.family_name as lastName', 'u.full_name as fullName', 'm.role_slug as roleSlug', 'm.status as status',
      // One index probe per member on org_group_members (org_id, user_id).
      sql<string | null>`(select string_agg(g.slug, ';' order by g.slug) from org_group_members gm
        join org_groups g on g.id = gm.group_id where gm.org_id = m.org_id and gm.user_id = m.user_id)`.as('groups'),
      'm.joined_via as joinedVia', iso('m.joined_at').as('joinedAt'), 'm.invited_by as invitedBy', iso('m.invited_at').as('invitedAt'),
      iso('m.created_at').as('createdAt'), iso('m.updated_at').as('updatedAt'),
      sql<string>`m.created_at::text || '/' || m.id::text`.as(POSITION)
    ])
    .where('m.org_id', '=', orgId)
    .$if(f.status !== undefined, (qb) => qb.where('m.status', '=', f.status!))
    .$if(f.roleSlug !== undefined, (qb) => qb.where('m.role_slug', '=', f.roleSlug!))
    .$if(f.group !== undefined, (qb) => qb.where(sql<boolean>`exists (select 1 from org_group_members gm
      join org_groups g on g.id = gm.group_id where gm.org_id = m.org_id and gm.user_id = m.user_id and g.slug = ${f.group})`))
    .$if(f.q !== undefined, (qb) => {
      const pattern = containing(f.q!)
      return qb.where((eb) => eb.or([
        eb('u.email', 'ilike', pattern), eb('m.invite_email', 'ilike', pattern), eb('u.given_name', 'ilike', pattern),
        eb('u.family_name', 'ilike', pattern), eb('u.full_name', 'ilike', pattern)
      ]))
    })
    .$if(f.createdAfter !== undefined, (qb) => qb.where('m.created_at', '>=', f.createdAfter!))
    .$if(f.createdBefore !== undefined, (qb) => qb.where('m.created_at', '<', f.createdBefore!))
    .$if(statement.after !== null, (qb) => qb.where(beyond(ORDER, 'newest', statement.after!)))
  // The rows keep their order through the outer select, which only picks and guards cells.
  const sorted = ordered(cells, ORDER, 'newest')
  const page = (statement.limit === null ? sorted : sorted.limit(statement.limit)).as('page')
  return db.selectFrom(page).select([
    ...columns.map((name) => (TEXT_COLUMNS.has(name) ? csvCell(`page.${name}`) : sql.ref(`page.${name}`)).as(name)),
    ...(statement.limit === null ? [] : [`page.${POSITION}` as const])
  ])
}

/**
 * The org's members as CSV records (no header) in pages of at least `pageSize` records (the last
 * may be shorter). The session (and on PostgreSQL its connection, snapshot and export slot) is
 * opened at the first next() and closed when the generator finishes or is returned early;
 * opening throws RateLimitError when the org already has `slots` exports.
 *
 * On PostgreSQL the whole export is one COPY statement in the session's snapshot, read as the
 * database writes it: planned once, never idle between pages, and held back when the client
 * reads slowly (its chunks are read only as pages are asked for). The embedded database writes
 * a statement's whole output in memory, so there each statement is ten pages' worth of keyset
 * rows, and the next starts after the position its last record carries: no row repeats or goes
 * missing, though the statements are not one snapshot.
 */
export async function * memberCsvPages (
  handle: DatabaseHandle, orgId: string, filters: MemberExportFilters, columns: readonly MemberExportColumn[], options: MemberExportOptions
): AsyncGenerator<EncodedPage> {
  const session: ExportSession = await openExportSession(handle, {
    lock: { key: `members-export:${orgId}`, slots: options.slots }, maxSeconds: options.maxSeconds, stallMs: options.stallMs
  })
  try {
    const limit = session.streams ? null : options.pageSize * EMBEDDED_STATEMENT_PAGES
    const buffers = new PageBuffers()
    let after: KeysetPosition | null = null
    do {
      const reader = new CopyCsvReader(limit !== null)
      let page = buffers.take()
      let written = 0
      let pageStart = 0
      for await (const chunk of session.copy(memberCsvQuery(session.db, orgId, filters, columns, { after, limit }).compile())) {
        page = buffers.room(page, written, CopyCsvReader.room(chunk))
        written = reader.write(chunk, page, written)
        if (reader.records - pageStart >= options.pageSize) {
          // A page ends at a record's end: the start of the next record moves to the next page
          // (on the embedded database its position must be read whole, from one buffer).
          const next = buffers.room(buffers.take(), 0, written - reader.recordEnd)
          const carried = page.copy(next, 0, reader.recordEnd, written)
          yield buffers.page(page, reader.recordEnd, reader.records - pageStart)
          page = next
          written = carried
          pageStart = reader.records
        }
      }
      // COPY ends every record, so what is left is whole records.
      if (written > 0) yield buffers.page(page, written, reader.records - pageStart)
      after = limit !== null && reader.records === limit ? positionOf(reader.lastField!) : null
    } while (after !== null)
  } finally {
    await session.close()
  }
}

/**
 * The pages' buffers: a page's buffer comes back once sent and is written again, so a buffer is
 * allocated a few times per export, not once per page (a stream of garbage buffers is what
 * grows the process).
 */
class PageBuffers {
  private readonly spare: Buffer[] = []

  take (): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafe(1 << 18)
  }

  /** `buffer` when `extra` bytes fit after its first `used`; otherwise a larger one holding them. */
  room (buffer: Buffer, used: number, extra: number): Buffer {
    if (buffer.length - used >= extra) return buffer
    const larger = Buffer.allocUnsafe(Math.max(2 * buffer.length, used + extra))
    buffer.copy(larger, 0, 0, used)
    return larger
  }

  page (buffer: Buffer, length: number, rows: number): EncodedPage {
    return { csv: buffer.subarray(0, length), rows, sent: () => { if (this.spare.length < 2) this.spare.push(buffer) } }
  }
}
