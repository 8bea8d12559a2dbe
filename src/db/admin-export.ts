// The rows of the admin exports (DESIGN.md section 7): one explicit column list per entity
// (never SELECT *, never a hash or secret column), keyset pages newest first through an export
// session (src/db/export-session.ts). Rows are arrays: the exported columns in order, then, for
// users only, the membership's keyset position. Timestamps are ISO 8601 text made by SQL,
// under the column's own name: ORDER BY and the keyset name the table's column qualified, or
// PostgreSQL would sort by the text alias and never use the (created_at, id) index.
import type { Kysely } from 'kysely'
import type { Database } from './schema.ts'
import type { DatabaseHandle } from './connect.ts'
import { cutPage, keysetRequest, pageQuery, type Page, type PageRequest } from './keyset.ts'
import { isoText as iso, openExportSession } from './export-session.ts'

export type AdminExportEntity = 'users' | 'organizations' | 'clients' | 'roles' | 'audit'

export const ADMIN_EXPORT_COLUMNS = {
  // The seed's 13 fields, in its order.
  users: ['id', 'email', 'status', 'given_name', 'family_name', 'nickname', 'locale', 'email_verified',
    'phone_number', 'created_at', 'updated_at', 'last_login_at', 'login_count'],
  organizations: ['id', 'slug', 'name', 'description', 'status', 'default_role', 'created_by', 'created_at', 'updated_at'],
  clients: ['id', 'org_id', 'application_id', 'client_id', 'name', 'redirect_uris', 'grant_types', 'scopes',
    'created_by', 'created_at', 'updated_at'],
  roles: ['id', 'application_id', 'slug', 'name', 'description', 'permissions', 'created_by', 'created_at', 'updated_at'],
  audit: ['id', 'org_id', 'actor_id', 'actor_kind', 'action', 'target_type', 'target_id', 'request_id', 'metadata', 'created_at']
} as const satisfies Record<AdminExportEntity, readonly string[]>

export type AdminExportRow = unknown[]

/** What an export covers. Audit bounds: `from` inclusive, `to` inclusive or `toBefore` exclusive. */
export interface AdminExportScope {
  orgId?: string
  applicationId?: string
  from?: string
  to?: string
  toBefore?: string
}

interface Source {
  /** Where the keyset position sits in a row: [created_at, id]. */
  key: readonly [number, number]
  page: (db: Kysely<Database>, scope: AdminExportScope, request: PageRequest) => Compilable
  /** How many rows match, counting no further than `upTo` (for a capped export). */
  count?: (db: Kysely<Database>, scope: AdminExportScope, upTo: number) => Compilable
}

interface Compilable { compile: () => { sql: string, parameters: readonly unknown[] } }

function auditFiltered (db: Kysely<Database>, scope: AdminExportScope) {
  return db.selectFrom('audit_events')
    .where('org_id', '=', scope.orgId!)
    .$if(scope.from !== undefined, (qb) => qb.where('created_at', '>=', scope.from!))
    .$if(scope.to !== undefined, (qb) => qb.where('created_at', '<=', scope.to!))
    .$if(scope.toBefore !== undefined, (qb) => qb.where('created_at', '<', scope.toBefore!))
}

const SOURCES: Record<AdminExportEntity, Source> = {
  users: {
    // Walks the org's memberships by their (org_id, created_at, id) index and joins each user.
    key: [13, 14],
    page: (db, scope, request) => pageQuery(db.selectFrom('org_memberships as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select([
        'u.id', 'u.email', 'u.status', 'u.given_name', 'u.family_name', 'u.nickname', 'u.locale', 'u.email_verified',
        'u.phone_number', iso('u.created_at').as('created_at'), iso('u.updated_at').as('updated_at'),
        iso('u.last_login_at').as('last_login_at'), 'u.login_count', iso('m.created_at').as('key_created_at'), 'm.id as key_id'
      ])
      .where('m.org_id', '=', scope.orgId!), { createdAt: 'm.created_at', id: 'm.id' }, request)
  },
  organizations: {
    key: [7, 0],
    page: (db, _scope, request) => pageQuery(db.selectFrom('organizations')
      .select(['id', 'slug', 'name', 'description', 'status', 'default_role', 'created_by',
        iso('created_at').as('created_at'), iso('updated_at').as('updated_at')]),
    { createdAt: 'organizations.created_at', id: 'organizations.id' }, request)
  },
  clients: {
    key: [9, 0],
    page: (db, scope, request) => pageQuery(db.selectFrom('oauth_clients')
      .select(['id', 'org_id', 'application_id', 'client_id', 'name', 'redirect_uris', 'grant_types', 'scopes', 'created_by',
        iso('created_at').as('created_at'), iso('updated_at').as('updated_at')])
      .where('org_id', '=', scope.orgId!), { createdAt: 'oauth_clients.created_at', id: 'oauth_clients.id' }, request)
  },
  roles: {
    key: [7, 0],
    page: (db, scope, request) => pageQuery(db.selectFrom('application_roles')
      .select(['id', 'application_id', 'slug', 'name', 'description', 'permissions', 'created_by',
        iso('created_at').as('created_at'), iso('updated_at').as('updated_at')])
      .where('application_id', '=', scope.applicationId!), { createdAt: 'application_roles.created_at', id: 'application_roles.id' }, request)
  },
  audit: {
    key: [9, 0],
    page: (db, scope, request) => pageQuery(auditFiltered(db, scope)
      .select(['id', 'org_id', 'actor_id', 'actor_kind', 'action', 'target_type', 'target_id', 'request_id', 'metadata',
        iso('created_at').as('created_at')]), { createdAt: 'audit_events.created_at', id: 'audit_events.id' }, request),
    count: (db, scope, upTo) => db.selectFrom(auditFiltered(db, scope).select('id').limit(upTo).as('s'))
      .select((eb) => eb.fn.countAll().as('n'))
  }
}

export interface AdminExportOptions {
  pageSize: number
  maxSeconds: number
  stallMs: number
  /** Concurrent exports of one entity and scope. */
  slots: number
  /** At most this many rows, newest first; `onMatched` hears how many match, up to cap + 1. */
  cap?: { rows: number, onMatched: (matched: number) => void }
}

/**
 * The entity's rows page by page. The session (on PostgreSQL one connection and one snapshot)
 * opens at the first next() and closes when the generator ends or is returned early. With a
 * cap, the matching rows are counted (up to cap + 1) in that snapshot before the first page,
 * so the response can say it was truncated before its headers go out.
 */
export async function * adminExportPages (
  handle: DatabaseHandle, entity: AdminExportEntity, scope: AdminExportScope, options: AdminExportOptions
): AsyncGenerator<AdminExportRow[]> {
  const source = SOURCES[entity]
  const session = await openExportSession(handle, {
    lock: { key: `admin-export:${entity}:${scope.orgId ?? scope.applicationId ?? 'all'}`, slots: options.slots },
    maxSeconds: options.maxSeconds,
    stallMs: options.stallMs
  })
  try {
    let remaining = Number.POSITIVE_INFINITY
    if (options.cap !== undefined) {
      if (source.count === undefined) throw new Error(`the ${entity} export has no row cap`)
      const [[matched]] = await session.rows(source.count(session.db, scope, options.cap.rows + 1).compile()) as [[unknown]]
      options.cap.onMatched(Number(matched))
      remaining = options.cap.rows
    }
    let request: PageRequest | null = keysetRequest(Math.min(options.pageSize, remaining), null)
    while (request !== null) {
      const rows = await session.rows(source.page(session.db, scope, request).compile())
      const page: Page<unknown[]> = cutPage(rows, request, (cells) => ({ createdAt: cells[source.key[0]] as string, id: cells[source.key[1]] as string }))
      yield page.rows
      remaining -= page.rows.length
      request = remaining > 0 && page.next !== null ? keysetRequest(Math.min(options.pageSize, remaining), page.next) : null
    }
  } finally {
    await session.close()
  }
}

/** True when the audit log holds events of this org: its trail outlives a deleted org. */
export async function auditHasOrganization (db: Kysely<Database>, orgId: string): Promise<boolean> {
  return (await db.selectFrom('audit_events').select('id').where('org_id', '=', orgId).limit(1).executeTakeFirst()) !== undefined
}

/** The first page's query as one statement (the benchmark's `\copy` reference runs it). */
export function adminExportQuery (db: Kysely<Database>, entity: AdminExportEntity, scope: AdminExportScope, limit: number): Compilable {
  return SOURCES[entity].page(db, scope, keysetRequest(limit, null))
}
