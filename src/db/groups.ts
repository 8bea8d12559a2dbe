// Org groups and group membership.
import { sql, type Kysely } from 'kysely'
import type { Database } from './schema.ts'
import { recordAudit, type AuditActor } from './audit.ts'
import { emitEvents, type EventInput } from './events.ts'
import { toGroup, toMembership } from '../lib/representations.ts'
import { groupsOfUsers, listMembersPage } from './members.ts'
import { ConflictError, NotFoundError, ValidationError } from '../lib/errors.ts'
import { containing } from '../lib/text.ts'
import { cutPage, pageQuery, type Page, type PageRequest } from './keyset.ts'

/** The org's groups, those whose name holds `search` (case-insensitive) when given. */
function groupsMatching (db: Kysely<Database>, orgId: string, search?: string) {
  const query = db.selectFrom('org_groups as g').where('g.org_id', '=', orgId)
  return search === undefined ? query : query.where('g.name', 'ilike', containing(search))
}

function groupQuery (db: Kysely<Database>, orgId: string, search?: string) {
  return groupsMatching(db, orgId, search)
    .select(['g.id', 'g.slug', 'g.name', 'g.description', 'g.created_by', 'g.updated_by', 'g.created_at', 'g.updated_at'])
    .select((eb) => eb.selectFrom('org_group_members as gm').whereRef('gm.group_id', '=', 'g.id')
      .select(eb.fn.countAll<number>().as('n')).as('member_count'))
}

export type GroupRow = Awaited<ReturnType<ReturnType<typeof groupQuery>['executeTakeFirstOrThrow']>>

const byCreation = { createdAt: 'g.created_at', id: 'g.id' }

export async function listGroupsPage (db: Kysely<Database>, orgId: string, search: string | undefined, request: PageRequest): Promise<Page<GroupRow>> {
  const rows = await pageQuery(groupQuery(db, orgId, search), byCreation, request).execute()
  return cutPage(rows, request, (g) => ({ createdAt: g.created_at, id: g.id }))
}

export async function countGroups (db: Kysely<Database>, orgId: string, search: string | undefined): Promise<number> {
  const row = await groupsMatching(db, orgId, search).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  return Number(row.n)
}

export async function getGroup (db: Kysely<Database>, orgId: string, slug: string): Promise<GroupRow> {
  const group = await groupQuery(db, orgId).where('g.slug', '=', slug).executeTakeFirst()
  if (!group) throw new NotFoundError(`Group ${slug} not found`)
  return group
}

/** The event of a new group, made through the groups API or by an add naming it. */
export function groupCreated (orgSlug: string, group: GroupRow): EventInput {
  return { type: 'group.created', data: toGroup(orgSlug, group) }
}

export async function createGroup (db: Kysely<Database>, orgId: string, input: { slug: string, name: string, description?: string }, by: string | null, actor: AuditActor): Promise<GroupRow> {
  return await db.transaction().execute(async (trx) => {
    const row = await trx.insertInto('org_groups').values({ org_id: orgId, slug: input.slug, name: input.name, description: input.description ?? null, created_by: by, updated_by: by })
      .onConflict((oc) => oc.columns(['org_id', 'slug']).doNothing()).returning('id').executeTakeFirst()
    if (!row) throw new ConflictError(`Group ${input.slug} already exists`)
    await recordAudit(trx, actor, { orgId, action: 'group.created', targetType: 'group', targetId: input.slug })
    const group = await getGroup(trx, orgId, input.slug)
    await emitEvents(trx, actor, orgId, (orgSlug) => [groupCreated(orgSlug, group)])
    return group
  })
}

export async function updateGroup (db: Kysely<Database>, orgId: string, slug: string, input: { name?: string, description?: string }, by: string | null, actor: AuditActor): Promise<GroupRow> {
  return await db.transaction().execute(async (trx) => {
    const updated = await trx.updateTable('org_groups').set({ ...input, updated_by: by, updated_at: sql<string>`now()` as any })
      .where('org_id', '=', orgId).where('slug', '=', slug).returning('id').executeTakeFirst()
    if (!updated) throw new NotFoundError(`Group ${slug} not found`)
    await recordAudit(trx, actor, { orgId, action: 'group.updated', targetType: 'group', targetId: slug, metadata: { fields: Object.keys(input) } })
    const group = await getGroup(trx, orgId, slug)
    await emitEvents(trx, actor, orgId, (orgSlug) => [{ type: 'group.updated', data: toGroup(orgSlug, group) }])
    return group
  })
}

export async function deleteGroup (db: Kysely<Database>, orgId: string, slug: string, actor: AuditActor): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const group = await getGroup(trx, orgId, slug)
    await trx.deleteFrom('org_groups').where('id', '=', group.id).execute()
    await recordAudit(trx, actor, { orgId, action: 'group.deleted', targetType: 'group', targetId: slug })
    await emitEvents(trx, actor, orgId, (orgSlug) => [{ type: 'group.deleted', data: toGroup(orgSlug, group) }])
  })
}

export interface GroupMemberRow { id: string, user_id: string, email: string | null, created_by: string | null, created_at: string }

function groupMemberQuery (db: Kysely<Database>, groupId: string) {
  return db.selectFrom('org_group_members as gm').innerJoin('users as u', 'u.id', 'gm.user_id')
    .select(['gm.id', 'gm.user_id', 'u.email', 'gm.created_by', 'gm.created_at'])
    .where('gm.group_id', '=', groupId)
}

/** The org members among `emails` (case-insensitive), as user ids in the order given; the first unknown one is a 400. */
async function membersByEmail (db: Kysely<Database>, orgId: string, emails: string[]): Promise<string[]> {
  const rows = await db.selectFrom('org_memberships as m').innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id', sql<string>`lower(u.email)`.as('email')])
    .where('m.org_id', '=', orgId).where(sql<string>`lower(u.email)`, 'in', emails.map((e) => e.toLowerCase())).execute()
  const byEmail = new Map(rows.map((r) => [r.email, r.user_id]))
  return emails.map((email, i) => {
    const userId = byEmail.get(email.toLowerCase())
    if (userId === undefined) throw new ValidationError(`body/emails/${i} is not the email of a member of this organization`, [{ field: `body/emails/${i}`, message: 'is not the email of a member of this organization' }])
    return userId
  })
}

/** Adds org members (by user id and/or email) to a group; returns their group memberships, new or already there. */
export async function addGroupMembers (db: Kysely<Database>, orgId: string, slug: string, who: { userIds?: string[], emails?: string[] }, by: string | null, actor: AuditActor): Promise<GroupMemberRow[]> {
  return await db.transaction().execute(async (trx) => {
    const group = await getGroup(trx, orgId, slug)
    const userIds = who.userIds ?? []
    const emails = who.emails ?? []
    const fromEmails = emails.length > 0 ? await membersByEmail(trx, orgId, emails) : []
    const all = [...new Set([...userIds, ...fromEmails])]
    // Locked, so a concurrent removal cannot leave group rows without a membership.
    const members = new Set((await trx.selectFrom('org_memberships').select('user_id').where('org_id', '=', orgId).where('user_id', 'in', all).forShare().execute()).map((m) => m.user_id))
    const missing = [...userIds.map((id, i) => ({ id, field: `body/userIds/${i}` })), ...fromEmails.map((id, i) => ({ id, field: `body/emails/${i}` }))].find((w) => !members.has(w.id))
    if (missing !== undefined) throw new ValidationError(`${missing.field} is not a member of this organization`, [{ field: missing.field, message: 'is not a member of this organization' }])
    const { added } = await addToGroups(trx, orgId, all.map((userId) => ({ userId, group: slug })), by)
    await recordAudit(trx, actor, { orgId, action: 'group.members.added', targetType: 'group', targetId: slug, metadata: { userIds: all.slice(0, 100) } })
    // Events for those who joined; one already in the group changed nothing.
    await emitGroupChange(trx, actor, orgId, slug, 'group_membership.added', added.map((p) => p.userId))
    const rows = await groupMemberQuery(trx, group.id).where('gm.user_id', 'in', all).execute()
    const order = new Map(all.map((id, i) => [id, i]))
    return rows.sort((a, b) => (order.get(a.user_id) ?? 0) - (order.get(b.user_id) ?? 0))
  })
}

export interface GroupPair { userId: string, group: string }

/** The event of a user joining or leaving a group. */
export function groupMembershipChanged (type: 'group_membership.added' | 'group_membership.removed', orgSlug: string, pair: GroupPair): EventInput {
  return { type, data: { orgSlug, groupSlug: pair.group, userId: pair.userId } }
}

/**
 * Puts users in groups, creating missing groups; existing group memberships are kept. Returns
 * the groups it created, as created (before any member joined), and the pairs that are new, in
 * the order given: what the caller's events tell.
 */
export async function addToGroups (db: Kysely<Database>, orgId: string, pairs: GroupPair[], by: string | null): Promise<{ created: GroupRow[], added: GroupPair[] }> {
  if (pairs.length === 0) return { created: [], added: [] }
  const slugs = [...new Set(pairs.map((p) => p.group))].sort()
  const made = await db.insertInto('org_groups').values(slugs.map((slug) => ({ org_id: orgId, slug, name: slug, created_by: by })))
    .onConflict((oc) => oc.columns(['org_id', 'slug']).doNothing()).returning('id').execute()
  const created = made.length > 0 ? await groupQuery(db, orgId).where('g.id', 'in', made.map((g) => g.id)).orderBy('g.slug').execute() : []
  const groups = new Map((await db.selectFrom('org_groups').select(['id', 'slug']).where('org_id', '=', orgId).where('slug', 'in', slugs).execute()).map((g) => [g.slug, g.id]))
  const rows = pairs.map((p) => ({ groupId: groups.get(p.group) as string, userId: p.userId }))
    .sort((a, b) => (a.groupId + a.userId < b.groupId + b.userId ? -1 : 1))
  // One statement for the whole set (unnest: one parameter per column, whatever the row count).
  const done = await db.insertInto('org_group_members').columns(['group_id', 'org_id', 'user_id', 'created_by'])
    .expression(sql`select v.group_id, ${orgId}::uuid, v.user_id, ${by}::uuid
      from unnest(${rows.map((r) => r.groupId)}::uuid[], ${rows.map((r) => r.userId)}::uuid[]) with ordinality as v(group_id, user_id, n)
      order by v.n`)
    .onConflict((oc) => oc.columns(['group_id', 'user_id']).doNothing()).returning(['group_id', 'user_id']).execute()
  const inserted = new Set(done.map((r) => `${r.group_id} ${r.user_id}`))
  // Each new pair once (a pair given twice is inserted once).
  const added = pairs.filter((p) => inserted.delete(`${groups.get(p.group) as string} ${p.userId}`))
  return { created, added }
}

/** One event per user and group, then each member as it now is, groups included (membership.updated). */
async function emitGroupChange (trx: Kysely<Database>, actor: AuditActor, orgId: string, groupSlug: string, type: 'group_membership.added' | 'group_membership.removed', userIds: string[]): Promise<void> {
  if (userIds.length === 0) return
  const members = (await listMembersPage(trx, orgId, { userIds }, { limit: userIds.length, order: 'oldest', after: null, offset: 0 })).rows
  const groups = await groupsOfUsers(trx, orgId, userIds)
  await emitEvents(trx, actor, orgId, (orgSlug) => [
    ...userIds.map((userId) => groupMembershipChanged(type, orgSlug, { userId, group: groupSlug })),
    ...members.map((m) => ({ type: 'membership.updated' as const, data: toMembership(orgSlug, m, { groups: groups.get(m.userId) ?? [] }) }))
  ])
}

export async function listGroupMembersPage (db: Kysely<Database>, orgId: string, slug: string, request: PageRequest): Promise<{ page: Page<GroupMemberRow>, total: number }> {
  const group = await getGroup(db, orgId, slug)
  const rows = await pageQuery(groupMemberQuery(db, group.id), { createdAt: 'gm.created_at', id: 'gm.id' }, request).execute()
  return { page: cutPage(rows, request, (r) => ({ createdAt: r.created_at, id: r.id })), total: Number(group.member_count ?? 0) }
}

export async function removeGroupMembers (db: Kysely<Database>, orgId: string, slug: string, userIds: string[], actor: AuditActor): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const group = await getGroup(trx, orgId, slug)
    const removed = await trx.deleteFrom('org_group_members').where('group_id', '=', group.id).where('user_id', 'in', userIds).returning('user_id').execute()
    await recordAudit(trx, actor, { orgId, action: 'group.members.removed', targetType: 'group', targetId: slug, metadata: { userIds: userIds.slice(0, 100) } })
    await emitGroupChange(trx, actor, orgId, slug, 'group_membership.removed', removed.map((r) => r.user_id))
  })
}
