// /v2/orgs/{orgSlug}/members: bulk add, list (offset or keyset), one member, removals, invites.
import type { FastifyRequest } from 'fastify'
import { countsTotal, pageRequest, resultsEnvelope } from '../../db/keyset.ts'
import { countMembers, getMemberWithGroups, groupsOfUsers, listMembersPage } from '../../db/members.ts'
import { addMembers } from '../../db/member-writes.ts'
import { removeMembers, renewInvite, updateMember, type MemberPatch } from '../../db/member-updates.ts'
import { NotFoundError, ValidationError } from '../../lib/errors.ts'
import { toMembership } from '../../lib/representations.ts'
import { actorUserId } from '../../lib/principal.ts'
import { auditActor, principalOf, requireOrg } from '../access.ts'
import type { Handlers } from '../operations.ts'

const inviteTtl = (request: FastifyRequest) => request.server.config.INVITE_TTL_HOURS

function parseUserIds (raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined
  const ids = raw.split(',').map((s) => s.trim()).filter(Boolean)
  const bad = ids.find((id) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
  if (bad !== undefined || ids.length > 100) {
    throw new ValidationError('querystring/userIds must be at most 100 comma-separated user ids', [{ field: 'querystring/userIds', message: 'must be at most 100 comma-separated user ids' }])
  }
  return ids
}

/** Prisme's updateOrgMember body as a patch: `userId` must name the path's member; `invited` is never set by hand. */
function memberPatch (pathUserId: string, body: { userId?: string, roleSlug?: string, status?: 'active' | 'invited' | 'suspended' }): MemberPatch {
  const { userId, roleSlug, status } = body
  if (userId !== undefined && userId.toLowerCase() !== pathUserId.toLowerCase()) {
    throw new ValidationError('body/userId must be the userId of the path', [{ field: 'body/userId', message: 'must be the userId of the path' }])
  }
  if (status === 'invited') {
    throw new ValidationError('body/status cannot be invited: a membership becomes an invitation only when a member is added by email', [{ field: 'body/status', message: 'cannot be invited: a membership becomes an invitation only when a member is added by email' }])
  }
  if (roleSlug === undefined && status === undefined) {
    throw new ValidationError('body must change roleSlug or status', [{ field: 'body', message: 'must change roleSlug or status' }])
  }
  return { ...(roleSlug !== undefined ? { roleSlug } : {}), ...(status !== undefined ? { status } : {}) }
}

export const memberHandlers = {
  async addOrgMembers (request, reply) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, 'orgs:members:manage')
    const by = actorUserId(principalOf(request))
    const options = { skipExisting: request.body.skipExisting === true, invitedBy: by, inviteTtlHours: inviteTtl(request), held: permissions }
    const added = await addMembers(this.db, org, request.body.users, options, auditActor(request))
    reply.code(201)
    return added.map((a) => toMembership(org.slug, a.member, { groups: a.groups, ...(a.inviteToken ? { inviteToken: a.inviteToken } : {}) })) as any
  },

  async listOrgMembers (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:members:read')
    const q = request.query
    const filters = { statuses: q.status ? [q.status] : undefined, roleSlug: q.roleSlug, group: q.group, q: q.q, userIds: parseUserIds(q.userIds) }
    const cursor = { kind: 'token', scope: `members:${org.id}` } as const
    const paging = await pageRequest(cursor, q, 20)
    const [page, total] = await Promise.all([
      listMembersPage(this.db, org.id, filters, paging),
      countsTotal(paging) ? countMembers(this.db, org.id, filters) : undefined
    ])
    const groups = q.includeGroups === true ? await groupsOfUsers(this.db, org.id, page.rows.map((r) => r.userId)) : null
    return resultsEnvelope(cursor, paging, page, (r) => toMembership(org.slug, r, groups ? { groups: groups.get(r.userId) ?? [] } : {}), total) as any
  },

  async getOrgMember (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:members:read')
    const found = await getMemberWithGroups(this.db, org.id, request.params.userId)
    if (!found) throw new NotFoundError('Member not found')
    return toMembership(org.slug, found.member, { groups: found.groups }) as any
  },

  async updateOrgMember (request) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, 'orgs:members:manage')
    const { member, groups } = await updateMember(this.db, org, permissions, request.params.userId, memberPatch(request.params.userId, request.body), actorUserId(principalOf(request)), auditActor(request))
    return toMembership(org.slug, member, { groups }) as any
  },

  async removeOrgMember (request) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, 'orgs:members:manage')
    const removed = await removeMembers(this.db, org, permissions, [request.params.userId], auditActor(request))
    if (removed === 0) throw new NotFoundError('Member not found')
    return { success: true }
  },

  async removeOrgMembers (request) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, 'orgs:members:manage')
    await removeMembers(this.db, org, permissions, request.body.userIds, auditActor(request))
    return { success: true }
  },

  async resendOrgMemberInvite (request) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, 'orgs:invites:manage')
    const { token, member } = await renewInvite(this.db, org, permissions, request.params.userId, inviteTtl(request), actorUserId(principalOf(request)), auditActor(request))
    return toMembership(org.slug, member, { inviteToken: token }) as any
  }
} satisfies Partial<Handlers>
