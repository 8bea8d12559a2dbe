// The rows of the member export (DESIGN.md section 6): keyset pages, newest first, through an
// export session. Rows come back as arrays in MEMBER_EXPORT_COLUMNS order with every timestamp
// already ISO 8601 text from SQL (a JS Date per cell is the slowest part of the naive path and
// drops microseconds) and a page's group slugs aggregated in the same statement.
import { sql, type Kysely } from 'kysely'
import type { Database, MembershipStatus } from './schema.ts'
import { cutPage, keysetRequest, pageQuery, type Page, type PageRequest } from './keyset.ts'
import { containing } from '../lib/text.ts'
import type { DatabaseHandle } from './connect.ts'
import { isoText as iso, openExportSession, type ExportSession } from './export-session.ts'

export const MEMBER_EXPORT_COLUMNS = [
  'id', 'userId', 'email', 'firstName', 'lastName', 'fullName', 'roleSlug', 'status', 'groups',
  'joinedVia', 'joinedAt', 'invitedBy', 'invitedAt', 'createdAt', 'updatedAt'
] as const
export type MemberExportColumn = typeof MEMBER_EXPORT_COLUMNS[number]
export type MemberExportRow = unknown[]

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

const CREATED_AT = MEMBER_EXPORT_COLUMNS.indexOf('createdAt')

/** One keyset page of the export (bench/export.ts runs it unbounded as the COPY reference). */
export function memberExportQuery (db: Kysely<Database>, orgId: string, f: MemberExportFilters, request: PageRequest) {
  const query = db.selectFrom('org_memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select([
      'm.id', 'm.user_id', sql<string | null>`coalesce(u.email, m.invite_email)`.as('email'),
      'u.given_name', 'u.family_name', 'u.full_name', 'm.role_slug', 'm.status',
      // One index probe per member on org_group_members (org_id, user_id).
      sql<string | null>`(select string_agg(g.slug, ';' order by g.slug) from org_group_members gm
        join org_groups g on g.id = gm.group_id where gm.org_id = m.org_id and gm.user_id = m.user_id)`.as('groups'),
      'm.joined_via', iso('m.joined_at').as('joined_at'), 'm.invited_by', iso('m.invited_at').as('invited_at'),
      iso('m.created_at').as('created_at'), iso('m.updated_at').as('updated_at')
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
  return pageQuery(query, { createdAt: 'm.created_at', id: 'm.id' }, request)
}

/**
 * The org's members page by page. The session (and on PostgreSQL its connection, snapshot and
 * export slot) is opened at the first next() and closed when the generator finishes or is
 * returned early; opening throws RateLimitError when the org already has `slots` exports.
 */
export async function * memberExportPages (
  handle: DatabaseHandle, orgId: string, filters: MemberExportFilters, options: MemberExportOptions
): AsyncGenerator<MemberExportRow[]> {
  const session: ExportSession = await openExportSession(handle, {
    lock: { key: `members-export:${orgId}`, slots: options.slots }, maxSeconds: options.maxSeconds, stallMs: options.stallMs
  })
  try {
    let request: PageRequest | null = keysetRequest(options.pageSize, null)
    while (request !== null) {
      const rows = await session.rows(memberExportQuery(session.db, orgId, filters, request).compile())
      const page: Page<unknown[]> = cutPage(rows, request, (cells) => ({ createdAt: cells[CREATED_AT] as string, id: cells[0] as string }))
      yield page.rows
      request = page.next !== null ? keysetRequest(options.pageSize, page.next) : null
    }
  } finally {
    await session.close()
  }
}
