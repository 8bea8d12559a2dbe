// /v2/orgs/{orgSlug}/roles and /groups, with group membership.
import { countRoles, createRole, deleteRole, getRole, listRolesPage, updateRole } from '../../db/roles.ts'
import {
  addGroupMembers, countGroups, createGroup, deleteGroup, getGroup, listGroupMembersPage, listGroupsPage, removeGroupMembers, updateGroup,
  type GroupMemberRow
} from '../../db/groups.ts'
import { countsTotal, pageRequest, resultsEnvelope } from '../../db/keyset.ts'
import { ValidationError } from '../../lib/errors.ts'
import { actorUserId } from '../../lib/principal.ts'
import { present, toGroup, toRole } from '../../lib/representations.ts'
import { auditActor, principalOf, requireOrg } from '../access.ts'
import type { Handlers } from '../operations.ts'

function toGroupMember (orgSlug: string, groupSlug: string, r: GroupMemberRow) {
  return { id: r.id, orgSlug, groupSlug, userId: r.user_id, createdAt: r.created_at, ...present({ email: r.email, createdBy: r.created_by }) }
}

export const roleGroupHandlers = {
  async listOrgRoles (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:read')
    const cursor = { kind: 'token', scope: `roles:${org.id}` } as const
    const paging = await pageRequest(cursor, request.query, 20)
    const { search } = request.query
    const [page, total] = await Promise.all([
      listRolesPage(this.db, org.id, search, paging),
      countsTotal(paging) ? countRoles(this.db, org.id, search) : undefined
    ])
    return { ...resultsEnvelope(cursor, paging, page, (r) => toRole(org.slug, r), total), defaultRole: org.default_role }
  },
  async createOrgRole (request, reply) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, 'orgs:roles:manage')
    const role = await createRole(this.db, org.id, permissions, request.body, actorUserId(principalOf(request)), auditActor(request))
    reply.code(201)
    return toRole(org.slug, role)
  },
  async getOrgRole (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:read')
    return toRole(org.slug, await getRole(this.db, org.id, request.params.roleSlug))
  },
  async updateOrgRole (request) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, 'orgs:roles:manage')
    return toRole(org.slug, await updateRole(this.db, org.id, permissions, request.params.roleSlug, request.body, actorUserId(principalOf(request)), auditActor(request)))
  },
  async deleteOrgRole (request) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, 'orgs:roles:manage')
    await deleteRole(this.db, org.id, permissions, request.params.roleSlug, org.default_role, auditActor(request))
    return { success: true }
  },

  async listOrgGroups (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:read')
    const cursor = { kind: 'token', scope: `groups:${org.id}` } as const
    const paging = await pageRequest(cursor, request.query, 20)
    const { search } = request.query
    const [page, total] = await Promise.all([
      listGroupsPage(this.db, org.id, search, paging),
      countsTotal(paging) ? countGroups(this.db, org.id, search) : undefined
    ])
    return resultsEnvelope(cursor, paging, page, (g) => toGroup(org.slug, g), total)
  },
  async createOrgGroup (request, reply) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:members:manage')
    const group = await createGroup(this.db, org.id, request.body, actorUserId(principalOf(request)), auditActor(request))
    reply.code(201)
    return toGroup(org.slug, group)
  },
  async getOrgGroup (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:read')
    return toGroup(org.slug, await getGroup(this.db, org.id, request.params.groupSlug))
  },
  async updateOrgGroup (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:members:manage')
    return toGroup(org.slug, await updateGroup(this.db, org.id, request.params.groupSlug, request.body, actorUserId(principalOf(request)), auditActor(request)))
  },
  async deleteOrgGroup (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:members:manage')
    await deleteGroup(this.db, org.id, request.params.groupSlug, auditActor(request))
    return { success: true }
  },
  async addOrgGroupMembers (request, reply) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:members:manage')
    const { groupSlug } = request.params
    const { userIds, emails } = request.body
    if (userIds === undefined && emails === undefined) throw new ValidationError('body must have userIds or emails', [{ field: 'body', message: 'must have userIds or emails' }])
    const rows = await addGroupMembers(this.db, org.id, groupSlug, { userIds, emails }, actorUserId(principalOf(request)), auditActor(request))
    reply.code(201)
    return rows.map((r) => toGroupMember(org.slug, groupSlug, r))
  },
  async listOrgGroupMembers (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:members:read')
    const { groupSlug } = request.params
    const cursor = { kind: 'token', scope: `group-members:${org.id}:${groupSlug}` } as const
    const paging = await pageRequest(cursor, request.query, 20)
    const { page, total } = await listGroupMembersPage(this.db, org.id, groupSlug, paging)
    return resultsEnvelope(cursor, paging, page, (r) => toGroupMember(org.slug, groupSlug, r), countsTotal(paging) ? total : undefined)
  },
  async removeOrgGroupMembers (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:members:manage')
    await removeGroupMembers(this.db, org.id, request.params.groupSlug, request.body.userIds, auditActor(request))
    return { success: true }
  }
} satisfies Partial<Handlers>
