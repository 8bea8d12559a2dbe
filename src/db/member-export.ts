// The member export (DESIGN.md section 6): keyset pages, newest first, through an export
// session, each page's records written by the database's own CSV writer (COPY ... WITH (FORMAT
// csv)), so no row becomes a JavaScript value: the bytes go from the database connection to the
// socket. Every timestamp is ISO 8601 text from SQL, a member's group slugs are aggregated in
// the same statement, and the formula rule of src/lib/csv.ts is applied in SQL (csvCell).
import { sql, type Kysely } from 'kysely'
import type { Database, MembershipStatus } from './schema.ts'
import { beyond, keysetRequest, ordered, type KeysetPosition, type PageRequest } from './keyset.ts'
import { containing } from '../lib/text.ts'
import { copyRecords, FORMULA_CHARACTERS } from '../lib/csv.ts'
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

/** The formula rule (src/lib/csv.ts) in SQL: a text cell starting with = + - @ tab CR or ' gets one leading '. */
function csvCell (column: string) {
  const ref = sql.ref(column)
  return sql<string | null>`case when left(${ref}, 1) = any(${sql.val([...FORMULA_CHARACTERS])}::text[]) then '''' || ${ref} else ${ref} end`
}

/** The last field of every record: the row's keyset position, `created_at/id`, which never needs quotes. */
const POSITION = 'position'

function positionOf (field: string): KeysetPosition {
  const slash = field.lastIndexOf('/')
  return { createdAt: field.slice(0, slash), id: field.slice(slash + 1) }
}

/**
 * The CSV cells of one keyset page (`request.limit` rows at most): the chosen columns in their
 * order, then the row's position. bench/export.ts runs it unbounded as its COPY reference.
 */
export function memberCsvQuery (
  db: Kysely<Database>, orgId: string, f: MemberExportFilters, columns: readonly MemberExportColumn[], request: PageRequest
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
    .$if(request.after !== null, (qb) => qb.where(beyond(ORDER, request.order, request.after!)))
  // The page keeps its order through the outer select, which only picks and guards cells.
  const page = ordered(cells, ORDER, request.order).limit(request.limit).as('page')
  return db.selectFrom(page).select([
    ...columns.map((name) => (TEXT_COLUMNS.has(name) ? csvCell(`page.${name}`) : sql.ref(`page.${name}`)).as(name)),
    `page.${POSITION}`
  ])
}

/**
 * The org's members as CSV records, page by page (no header). The session (and on PostgreSQL its
 * connection, snapshot and export slot) is opened at the first next() and closed when the
 * generator finishes or is returned early; opening throws RateLimitError when the org already
 * has `slots` exports. A page is one COPY statement; the next starts after the position its
 * last record carries, so no row repeats or goes missing even on the embedded database, whose
 * pages are not one snapshot.
 */
export async function * memberCsvPages (
  handle: DatabaseHandle, orgId: string, filters: MemberExportFilters, columns: readonly MemberExportColumn[], options: MemberExportOptions
): AsyncGenerator<EncodedPage> {
  const session: ExportSession = await openExportSession(handle, {
    lock: { key: `members-export:${orgId}`, slots: options.slots }, maxSeconds: options.maxSeconds, stallMs: options.stallMs
  })
  try {
    // Page buffers come back once sent and are written again: a page is allocated a few times
    // per export, not once per page (a stream of garbage buffers is what grows the process).
    const spare: Buffer[] = []
    let request: PageRequest | null = keysetRequest(options.pageSize, null)
    while (request !== null) {
      const page = copyRecords(await session.csv(memberCsvQuery(session.db, orgId, filters, columns, request).compile()), spare.pop())
      yield { csv: page.csv, rows: page.records, sent: () => { if (spare.length < 2) spare.push(page.buffer) } }
      request = page.records === options.pageSize && page.lastField !== null ? keysetRequest(options.pageSize, positionOf(page.lastField)) : null
    }
  } finally {
    await session.close()
  }
}
