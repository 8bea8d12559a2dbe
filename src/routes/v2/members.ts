// /v2/orgs/{orgSlug}/members: bulk add, list (offset or keyset), one member, removals, invites.
import type { FastifyRequest } from 'fastify'
import { decodeCursor, encodeCursor } from '../../db/keyset.ts'
import { countMembers, getMemberWithGroups, groupsOfUsers, listMembersAfter, listMembersOffset, type MemberRow } from '../../db/members.ts'
import { addMembers } from '../../db/member-writes.ts'
import { removeMembers, renewInvite, updateMember } from '../../db/member-updates.ts'
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
    const limit = q.limit ?? 20
    const scope = `members:${org.id}`
    let rows: MemberRow[]
    let total: number | undefined
    let nextCursor: string | null = null
    if (q.cursor !== undefined || q.page === undefined) {
      if (q.sort === 'createdAt') {
        if (q.cursor !== undefined) throw new ValidationError('querystring/cursor works only with sort=-createdAt', [{ field: 'querystring/cursor', message: 'works only with sort=-createdAt' }])
        ;({ rows, total } = await listMembersOffset(this.db, org.id, filters, limit, 1, true))
        nextCursor = null
      } else {
        const after = q.cursor !== undefined ? decodeCursor(scope, q.cursor) : null
        const [page, count] = await Promise.all([
          listMembersAfter(this.db, org.id, filters, limit, after),
          after === null ? countMembers(this.db, org.id, filters) : Promise.resolve(undefined)
        ])
        rows = page.rows
        total = count
        nextCursor = page.next ? encodeCursor(scope, page.next) : null
      }
    } else {
      ({ rows, total } = await listMembersOffset(this.db, org.id, filters, limit, q.page, q.sort === 'createdAt'))
    }
    const groups = q.includeGroups === true ? await groupsOfUsers(this.db, org.id, rows.map((r) => r.userId)) : null
    return {
      results: rows.map((r) => toMembership(org.slug, r, groups ? { groups: groups.get(r.userId) ?? [] } : {})),
      ...(total !== undefined ? { total } : {}),
      nextCursor
    } as any
  },

  async getOrgMember (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:members:read')
    const found = await getMemberWithGroups(this.db, org.id, request.params.userId)
    if (!found) throw new NotFoundError('Member not found')
    return toMembership(org.slug, found.member, { groups: found.groups }) as any
  },

  async updateOrgMember (request) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, 'orgs:members:manage')
    const { member, groups } = await updateMember(this.db, org, permissions, request.params.userId, request.body, actorUserId(principalOf(request)), auditActor(request))
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
