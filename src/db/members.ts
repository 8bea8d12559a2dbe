// Memberships: pages (keyset or offset), one member, and their groups.
import { sql, type Kysely, type SelectQueryBuilder } from 'kysely'
import type { Database, MembershipStatus } from './schema.ts'
import { anyOf } from './arrays.ts'
import { anchoredRequest } from './offset-anchors.ts'
import { beyond, cutPage, fetchSize, ordered, pageQuery, type KeysetPosition, type Order, type Page, type PageRequest } from './keyset.ts'
import { preparedStatement } from './prepared.ts'

export interface MemberRow {
  id: string
  orgId: string
  userId: string
  roleSlug: string
  status: MembershipStatus
  invitedBy: string | null
  invitedAt: string | null
  inviteEmail: string | null
  inviteExpiresAt: string | null
  joinedAt: string | null
  joinedVia: string | null
  deactivatedAt: string | null
  createdBy: string | null
  updatedBy: string | null
  createdAt: string
  updatedAt: string
  email: string | null
  givenName: string | null
  familyName: string | null
  fullName: string | null
  avatarUrl: string | null
  title: string | null
  emailVerified: boolean
  userCreatedAt: string
}

export interface MemberFilters {
  statuses?: MembershipStatus[]
  roleSlug?: string
  group?: string
  /** Case-insensitive prefix of email or names. */
  q?: string
  userIds?: string[]
}

/** A MemberRow's membership fields, read from org_memberships. */
export const MEMBERSHIP_FIELDS = [
  'id', 'org_id as orgId', 'user_id as userId', 'role_slug as roleSlug', 'status',
  'invited_by as invitedBy', 'invited_at as invitedAt', 'invite_email as inviteEmail',
  'invite_expires_at as inviteExpiresAt', 'joined_at as joinedAt', 'joined_via as joinedVia',
  'deactivated_at as deactivatedAt', 'created_by as createdBy', 'updated_by as updatedBy',
  'created_at as createdAt', 'updated_at as updatedAt'
] as const

/** A MemberRow's user fields, read from users. */
export const MEMBER_USER_FIELDS = [
  'email', 'given_name as givenName', 'family_name as familyName', 'full_name as fullName',
  'avatar_url as avatarUrl', 'title', 'email_verified as emailVerified', 'created_at as userCreatedAt'
] as const

type Qualified<A extends string, T extends readonly string[]> = { readonly [K in keyof T]: `${A}.${T[K]}` }

export function qualified<A extends string, const T extends readonly string[]> (alias: A, fields: T): Qualified<A, T> {
  // map() keeps each element's place but its type forgets the tuple's literal strings
  return fields.map((f) => `${alias}.${f}`) as unknown as Qualified<A, T>
}

/** A MemberRow from memberships `m` joined with users `u`. */
export const MEMBER_COLUMNS = [...qualified('m', MEMBERSHIP_FIELDS), ...qualified('u', MEMBER_USER_FIELDS)] as const

type FieldName<F extends string> = F extends `${string} as ${infer A}` ? A : F
type FieldNames<T extends readonly string[]> = { readonly [K in keyof T]: FieldName<T[K]> }

/** What each field is called once read (`given_name as givenName` → `givenName`), to read it again from a CTE. */
export function fieldNames<const T extends readonly string[]> (fields: T): FieldNames<T> {
  return fields.map((f) => f.split(' as ').at(-1)) as unknown as FieldNames<T>
}

function memberQuery (db: Kysely<Database>, orgId: string) {
  return db.selectFrom('org_memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .where('m.org_id', '=', orgId)
    .select(MEMBER_COLUMNS)
}

function likePrefix (q: string): string {
  return `${q.toLowerCase().replace(/[\\%_]/g, '\\$&')}%`
}

function isFiltered (f: MemberFilters): boolean {
  return (f.statuses?.length ?? 0) > 0 || Boolean(f.roleSlug) || (f.userIds?.length ?? 0) > 0 || Boolean(f.group) || Boolean(f.q)
}

/** Narrows memberships (`m`) by the filters (those isFiltered sees); `q` looks users up by id, so a count needs no join. */
function applyFilters<DB extends Database & { m: Database['org_memberships'] }, TB extends keyof DB, O> (query: SelectQueryBuilder<DB, TB, O>, f: MemberFilters): SelectQueryBuilder<DB, TB, O> {
  const narrowed = query as unknown as SelectQueryBuilder<Database & { m: Database['org_memberships'] }, 'm', O>
  let q = narrowed
  if (f.statuses && f.statuses.length > 0) q = q.where('m.status', 'in', f.statuses)
  if (f.roleSlug) q = q.where('m.role_slug', '=', f.roleSlug)
  if (f.userIds && f.userIds.length > 0) q = q.where('m.user_id', 'in', f.userIds)
  if (f.group) {
    const group = f.group
    q = q.where(({ exists, selectFrom }) => exists(selectFrom('org_group_members as gm')
      .innerJoin('org_groups as g', 'g.id', 'gm.group_id')
      .select(sql.lit(1).as('one'))
      .whereRef('gm.org_id', '=', 'm.org_id').whereRef('gm.user_id', '=', 'm.user_id').where('g.slug', '=', group)))
  }
  if (f.q) {
    const pattern = likePrefix(f.q)
    q = q.where(({ exists, selectFrom }) => exists(selectFrom('users as fu')
      .select(sql.lit(1).as('one'))
      .whereRef('fu.id', '=', 'm.user_id')
      .where((eb) => eb.or([
        eb(sql`lower(fu.email)`, 'like', pattern),
        eb(sql`lower(fu.full_name)`, 'like', pattern),
        eb(sql`lower(fu.given_name)`, 'like', pattern),
        eb(sql`lower(fu.family_name)`, 'like', pattern)
      ]))))
  }
  return q as unknown as SelectQueryBuilder<DB, TB, O>
}

const MEMBER_ORDER = { createdAt: 'm.created_at', id: 'm.id' }
const positionOfMember = (m: MemberRow): KeysetPosition => ({ createdAt: m.createdAt, id: m.id })

// The unfiltered newest-first keyset pages are the hot ones: prepared, first and after a cursor.
const firstPage = preparedStatement((db, orgId: string, n: number) =>
  ordered(memberQuery(db, orgId), MEMBER_ORDER, 'newest').limit(n))
const pageAfter = preparedStatement((db, orgId: string, n: number, createdAt: string, id: string) =>
  ordered(memberQuery(db, orgId).where(beyond(MEMBER_ORDER, 'newest', { createdAt, id })), MEMBER_ORDER, 'newest').limit(n))

// An unfiltered offset page from its anchor (src/db/offset-anchors.ts): the ids after the anchor
// counted off the index, then only the page's rows joined.
const fromAnchor = (order: Order) => preparedStatement((db, orgId: string, n: number, createdAt: string, id: string, skip: number) => {
  const ids = ordered(db.selectFrom('org_memberships as m').select('m.id').where('m.org_id', '=', orgId)
    .where(beyond(MEMBER_ORDER, order, { createdAt, id })), MEMBER_ORDER, order).limit(n).offset(skip)
  return ordered(db.selectFrom(ids.as('page')).innerJoin('org_memberships as m', 'm.id', 'page.id')
    .innerJoin('users as u', 'u.id', 'm.user_id').select(MEMBER_COLUMNS), MEMBER_ORDER, order)
})
const pageFromAnchor = { newest: fromAnchor('newest'), oldest: fromAnchor('oldest') }

/** A page of memberships: a keyset page is one index range scan on (org_id, created_at desc, id desc). */
export async function listMembersPage (db: Kysely<Database>, orgId: string, filters: MemberFilters, request: PageRequest): Promise<Page<MemberRow>> {
  let rows: MemberRow[]
  if (!isFiltered(filters) && request.order === 'newest' && request.offset === 0) {
    const n = fetchSize(request)
    rows = request.after !== null
      ? await pageAfter.execute(db, orgId, n, request.after.createdAt, request.after.id)
      : await firstPage.execute(db, orgId, n)
  } else if (request.offset > 0 && !isFiltered(filters)) {
    const from = await anchoredRequest(db, orgId, request)
    rows = from.after !== null
      ? await pageFromAnchor[from.order].execute(db, orgId, fetchSize(from), from.after.createdAt, from.after.id, from.offset)
      : await deferredOffsetPage(db, orgId, filters, from).execute()
  } else if (request.offset > 0) {
    rows = await deferredOffsetPage(db, orgId, filters, request).execute()
  } else {
    rows = await pageQuery(applyFilters(memberQuery(db, orgId), filters), MEMBER_ORDER, request).execute()
  }
  return cutPage(rows, request, positionOfMember)
}

/**
 * An offset page by deferred join: the skipped rows are counted off the (org_id, created_at,
 * id) index alone (an index-only scan when unfiltered), and only the page's own ids are joined
 * to their rows and users. A plain OFFSET would fetch and join every skipped row.
 */
function deferredOffsetPage (db: Kysely<Database>, orgId: string, filters: MemberFilters, request: PageRequest) {
  const ids = pageQuery(applyFilters(db.selectFrom('org_memberships as m').select('m.id').where('m.org_id', '=', orgId), filters), MEMBER_ORDER, request)
  return ordered(db.selectFrom(ids.as('page'))
    .innerJoin('org_memberships as m', 'm.id', 'page.id')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .where('m.org_id', '=', orgId)
    .select(MEMBER_COLUMNS), MEMBER_ORDER, request.order)
}

/** Where a membership of the org sits in the list order (the public list's cursor is its id). */
export async function memberPosition (db: Kysely<Database>, orgId: string, id: string): Promise<KeysetPosition | undefined> {
  return await db.selectFrom('org_memberships').select(['created_at as createdAt', 'id'])
    .where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst()
}

const keptCount = preparedStatement((db, orgId: string) => db.selectFrom('org_member_counts')
  .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('members'), eb.lit(0)).as('n')).where('org_id', '=', orgId))

/** The unfiltered total is the sum of the counts the triggers keep; a filtered one counts memberships alone. */
export async function countMembers (db: Kysely<Database>, orgId: string, filters: MemberFilters): Promise<number> {
  if (!isFiltered(filters)) {
    const [kept] = await keptCount.execute(db, orgId)
    return Number(kept?.n ?? 0)
  }
  const query = applyFilters(db.selectFrom('org_memberships as m').where('m.org_id', '=', orgId), filters)
  const row = await query.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow()
  return Number(row.total)
}

export async function getMember (db: Kysely<Database>, orgId: string, userId: string): Promise<MemberRow | undefined> {
  return await memberQuery(db, orgId).where('m.user_id', '=', userId).executeTakeFirst()
}

/** One member and their group slugs; pass the write's transaction to read what it wrote. */
export async function getMemberWithGroups (db: Kysely<Database>, orgId: string, userId: string): Promise<{ member: MemberRow, groups: string[] } | undefined> {
  const member = await getMember(db, orgId, userId)
  if (!member) return undefined
  return { member, groups: (await groupsOfUsers(db, orgId, [userId])).get(userId) ?? [] }
}

/** Group slugs of these users in the org, in one query. */
export async function groupsOfUsers (db: Kysely<Database>, orgId: string, userIds: string[]): Promise<Map<string, string[]>> {
  const byUser = new Map<string, string[]>()
  if (userIds.length === 0) return byUser
  const rows = await db.selectFrom('org_group_members as gm')
    .innerJoin('org_groups as g', 'g.id', 'gm.group_id')
    .select(['gm.user_id as userId', 'g.slug'])
    .where('gm.org_id', '=', orgId).where('gm.user_id', '=', anyOf(userIds, 'uuid'))
    .orderBy('g.slug').execute()
  for (const row of rows) {
    const list = byUser.get(row.userId)
    if (list) list.push(row.slug)
    else byUser.set(row.userId, [row.slug])
  }
  return byUser
}
