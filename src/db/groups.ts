// Org groups and group membership.
import { sql, type Kysely } from 'kysely'
import type { Database } from './schema.ts'
import { recordAudit, type AuditActor } from './audit.ts'
import { emitEvents } from './events.ts'
import { toGroup, toMembership } from '../lib/representations.ts'
import { groupsOfUsers, membersOffsetPage } from './members.ts'
import { ConflictError, NotFoundError, ValidationError } from '../lib/errors.ts'
import { addToGroups } from './member-writes.ts'

function groupQuery (db: Kysely<Database>, orgId: string) {
  return db.selectFrom('org_groups as g').where('g.org_id', '=', orgId)
    .select(['g.id', 'g.slug', 'g.name', 'g.description', 'g.created_by', 'g.updated_by', 'g.created_at', 'g.updated_at'])
    .select((eb) => eb.selectFrom('org_group_members as gm').whereRef('gm.group_id', '=', 'g.id')
      .select(eb.fn.countAll<number>().as('n')).as('member_count'))
}

export type GroupRow = Awaited<ReturnType<ReturnType<typeof groupQuery>['executeTakeFirstOrThrow']>>

export async function listGroups (db: Kysely<Database>, orgId: string): Promise<GroupRow[]> {
  return await groupQuery(db, orgId).orderBy('g.slug').execute()
}

export async function getGroup (db: Kysely<Database>, orgId: string, slug: string): Promise<GroupRow> {
  const group = await groupQuery(db, orgId).where('g.slug', '=', slug).executeTakeFirst()
  if (!group) throw new NotFoundError(`Group ${slug} not found`)
  return group
}

export async function createGroup (db: Kysely<Database>, orgId: string, input: { slug: string, name: string, description?: string }, by: string | null, actor: AuditActor): Promise<GroupRow> {
  return await db.transaction().execute(async (trx) => {
    const row = await trx.insertInto('org_groups').values({ org_id: orgId, slug: input.slug, name: input.name, description: input.description ?? null, created_by: by, updated_by: by })
      .onConflict((oc) => oc.columns(['org_id', 'slug']).doNothing()).returning('id').executeTakeFirst()
    if (!row) throw new ConflictError(`Group ${input.slug} already exists`)
    await recordAudit(trx, actor, { orgId, action: 'group.created', targetType: 'group', targetId: input.slug })
    const group = await getGroup(trx, orgId, input.slug)
    await emitEvents(trx, actor, orgId, (orgSlug) => [{ type: 'group.created', data: toGroup(orgSlug, group) }])
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

export async function addGroupMembers (db: Kysely<Database>, orgId: string, slug: string, userIds: string[], by: string | null, actor: AuditActor): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await getGroup(trx, orgId, slug)
    const members = new Set((await trx.selectFrom('org_memberships').select('user_id').where('org_id', '=', orgId).where('user_id', 'in', userIds).forShare().execute()).map((m) => m.user_id))
    const index = userIds.findIndex((id) => !members.has(id))
    if (index >= 0) throw new ValidationError(`body/userIds/${index} is not a member of this organization`, [{ field: `body/userIds/${index}`, message: 'is not a member of this organization' }])
    await addToGroups(trx, orgId, userIds.map((userId) => ({ userId, group: slug })), by)
    await recordAudit(trx, actor, { orgId, action: 'group.members.added', targetType: 'group', targetId: slug, metadata: { userIds: userIds.slice(0, 100) } })
    await emitGroupChange(trx, actor, orgId, slug, 'group_membership.added', userIds)
  })
}

/** One event per user and group, then each member as it now is, groups included (membership.updated). */
async function emitGroupChange (trx: Kysely<Database>, actor: AuditActor, orgId: string, groupSlug: string, type: 'group_membership.added' | 'group_membership.removed', userIds: string[]): Promise<void> {
  if (userIds.length === 0) return
  const members = await membersOffsetPage(trx, orgId, { userIds }, userIds.length, 1, true)
  const groups = await groupsOfUsers(trx, orgId, userIds)
  await emitEvents(trx, actor, orgId, (orgSlug) => [
    ...userIds.map((userId) => ({ type, data: { orgSlug, groupSlug, userId } })),
    ...members.map((m) => ({ type: 'membership.updated' as const, data: toMembership(orgSlug, m, { groups: groups.get(m.userId) ?? [] }) }))
  ])
}

export async function listGroupMembers (db: Kysely<Database>, orgId: string, slug: string, limit: number, page: number) {
  const group = await getGroup(db, orgId, slug)
  const rows = await db.selectFrom('org_group_members as gm').innerJoin('users as u', 'u.id', 'gm.user_id')
    .select(['gm.user_id', 'u.email', 'gm.created_by', 'gm.created_at'])
    .where('gm.group_id', '=', group.id).orderBy('gm.created_at', 'desc').orderBy('gm.user_id', 'desc')
    .limit(limit).offset((page - 1) * limit).execute()
  return { rows, total: Number(group.member_count ?? 0) }
}

export async function removeGroupMembers (db: Kysely<Database>, orgId: string, slug: string, userIds: string[], actor: AuditActor): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const group = await getGroup(trx, orgId, slug)
    const removed = await trx.deleteFrom('org_group_members').where('group_id', '=', group.id).where('user_id', 'in', userIds).returning('user_id').execute()
    await recordAudit(trx, actor, { orgId, action: 'group.members.removed', targetType: 'group', targetId: slug, metadata: { userIds: userIds.slice(0, 100) } })
    await emitGroupChange(trx, actor, orgId, slug, 'group_membership.removed', removed.map((r) => r.user_id))
  })
}
