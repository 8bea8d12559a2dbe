// Role and status changes, removals and invitation renewals. Each acts on members whose current
// role the caller's held set must cover (and a new role too), checked on the rows locked for
// the write. The last active owner of an org can be neither demoted, suspended nor removed:
// owners' rows are locked first, so concurrent demotions queue up and the last one sees who is left.
import { randomBytes } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Database, Organization } from './schema.ts'
import { recordAudit, type AuditActor } from './audit.ts'
import { emitEvents } from './events.ts'
import { ConflictError, NotFoundError, ValidationError } from '../lib/errors.ts'
import { hashInviteToken } from './member-writes.ts'
import { getMember, getMemberWithGroups, MEMBER_COLUMNS, type MemberRow } from './members.ts'
import { assertRolesCovered, rolePermissions } from './roles.ts'
import { toMembership } from '../lib/representations.ts'

/** Locks the org's active owners (always first, so transactions queue instead of deadlocking). */
async function lockOwners (db: Kysely<Database>, orgId: string): Promise<Array<{ user_id: string }>> {
  return await db.selectFrom('org_memberships').select('user_id')
    .where('org_id', '=', orgId).where('role_slug', '=', 'owner').where('status', '=', 'active')
    .orderBy('user_id').forUpdate().execute()
}

function guardLastOwner (owners: Array<{ user_id: string }>, leaving: string[]): void {
  const leavingSet = new Set(leaving)
  if (owners.length > 0 && owners.every((o) => leavingSet.has(o.user_id))) {
    throw new ConflictError('The organization must keep at least one active owner')
  }
}

export interface MemberPatch { roleSlug?: string, status?: 'active' | 'suspended' }

/** Applies the patch; returns the member as updated (read in the transaction, which a concurrent removal cannot undo). */
export async function updateMember (db: Kysely<Database>, org: Organization, held: readonly string[], userId: string, patch: MemberPatch, by: string | null, actor: AuditActor): Promise<{ member: MemberRow, groups: string[] }> {
  return await db.transaction().execute(async (trx) => {
    const owners = await lockOwners(trx, org.id)
    const current = await trx.selectFrom('org_memberships').select(['role_slug', 'status'])
      .where('org_id', '=', org.id).where('user_id', '=', userId).forUpdate().executeTakeFirst()
    if (!current) throw new NotFoundError('Member not found')
    if (patch.roleSlug !== undefined && !(await rolePermissions(trx, org.id, [patch.roleSlug])).has(patch.roleSlug)) {
      throw new ValidationError(`body/roleSlug: role ${patch.roleSlug} does not exist in this organization`, [{ field: 'body/roleSlug', message: 'is not a role of this organization' }])
    }
    await assertRolesCovered(trx, org.id, held, [current.role_slug, ...(patch.roleSlug !== undefined ? [patch.roleSlug] : [])])
    if (patch.status !== undefined && current.status === 'invited') {
      throw new ConflictError('A pending invitation cannot be activated or suspended; resend or remove it')
    }
    const demoted = current.role_slug === 'owner' && patch.roleSlug !== undefined && patch.roleSlug !== 'owner'
    const suspended = current.role_slug === 'owner' && patch.status === 'suspended'
    if (demoted || suspended) guardLastOwner(owners, [userId])
    await trx.updateTable('org_memberships').set({
      ...(patch.roleSlug !== undefined ? { role_slug: patch.roleSlug } : {}),
      ...(patch.status === 'suspended' && current.status !== 'suspended' ? { status: 'suspended' as const, deactivated_at: sql<string>`now()` as any } : {}),
      ...(patch.status === 'active' ? { status: 'active' as const, deactivated_at: null } : {}),
      updated_by: by,
      updated_at: sql<string>`now()` as any
    }).where('org_id', '=', org.id).where('user_id', '=', userId).execute()
    await recordAudit(trx, actor, { orgId: org.id, action: 'member.updated', targetType: 'user', targetId: userId, metadata: { ...patch, previousRole: current.role_slug, previousStatus: current.status } })
    const updated = await getMemberWithGroups(trx, org.id, userId) as { member: MemberRow, groups: string[] }
    await emitEvents(trx, actor, org, [{ type: 'membership.updated', data: toMembership(org.slug, updated.member, { groups: updated.groups }) }])
    return updated
  })
}

/** Removes the members among `userIds`; returns how many were removed. */
export async function removeMembers (db: Kysely<Database>, org: Organization, held: readonly string[], userIds: string[], actor: AuditActor): Promise<number> {
  return await db.transaction().execute(async (trx) => {
    const owners = await lockOwners(trx, org.id)
    const targets = await trx.selectFrom('org_memberships').select('role_slug').where('org_id', '=', org.id).where('user_id', 'in', userIds)
      .orderBy('user_id').forUpdate().execute()
    await assertRolesCovered(trx, org.id, held, targets.map((m) => m.role_slug))
    guardLastOwner(owners, userIds)
    const removed = await trx.with('m', (db) => db.deleteFrom('org_memberships').where('org_id', '=', org.id).where('user_id', 'in', userIds).returningAll())
      .selectFrom('m').innerJoin('users as u', 'u.id', 'm.user_id').select(MEMBER_COLUMNS).execute()
    if (removed.length > 0) {
      // Only the removed ones: a concurrent add of another listed user may commit between the
      // two statements, and its groups are not ours to delete.
      await trx.deleteFrom('org_group_members').where('org_id', '=', org.id).where('user_id', 'in', removed.map((r) => r.userId)).execute()
      await recordAudit(trx, actor, { orgId: org.id, action: 'members.removed', targetType: 'user', targetId: removed.length === 1 ? removed[0]!.userId : null, metadata: { removed: removed.length, userIds: removed.slice(0, 100).map((r) => r.userId) } })
      // Removing a pending invitation revokes it.
      await emitEvents(trx, actor, org, removed.map((m) => ({ type: m.status === 'invited' ? 'invitation.revoked' : 'membership.deleted', data: toMembership(org.slug, m) })))
    }
    return removed.length
  })
}

/** A new token for a pending invitation; the old one stops working. Returns it with the member as renewed. */
export async function renewInvite (db: Kysely<Database>, org: Organization, held: readonly string[], userId: string, ttlHours: number, by: string | null, actor: AuditActor): Promise<{ token: string, member: MemberRow }> {
  return await db.transaction().execute(async (trx) => {
    const current = await trx.selectFrom('org_memberships').select(['status', 'role_slug']).where('org_id', '=', org.id).where('user_id', '=', userId).forUpdate().executeTakeFirst()
    if (!current) throw new NotFoundError('Member not found')
    await assertRolesCovered(trx, org.id, held, [current.role_slug])
    if (current.status !== 'invited') throw new ConflictError('This member has no pending invitation')
    const token = randomBytes(32).toString('base64url')
    await trx.updateTable('org_memberships').set({
      invite_token_hash: hashInviteToken(token),
      invited_at: sql<string>`now()` as any,
      invite_expires_at: sql<string>`now() + make_interval(hours => ${ttlHours})` as any,
      updated_by: by,
      updated_at: sql<string>`now()` as any
    }).where('org_id', '=', org.id).where('user_id', '=', userId).execute()
    await recordAudit(trx, actor, { orgId: org.id, action: 'invite.renewed', targetType: 'user', targetId: userId })
    const member = await getMember(trx, org.id, userId) as MemberRow
    await emitEvents(trx, actor, org, [{ type: 'invitation.renewed', data: toMembership(org.slug, member) }])
    return { token, member }
  })
}
