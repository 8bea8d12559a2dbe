// /v2/orgs/{orgSlug}/roles and /groups, with group membership.
import { createRole, deleteRole, getRole, listRoles, updateRole } from '../../db/roles.ts'
import {
  addGroupMembers, createGroup, deleteGroup, getGroup, listGroupMembers, listGroups, removeGroupMembers, updateGroup
} from '../../db/groups.ts'
import { actorUserId } from '../../lib/principal.ts'
import { present, toGroup, toRole } from '../../lib/representations.ts'
import { auditActor, principalOf, requireOrg } from '../access.ts'
import type { Handlers } from '../operations.ts'

export const roleGroupHandlers = {
  async listOrgRoles (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:read')
    const roles = await listRoles(this.db, org.id)
    return { results: roles.map((r) => toRole(org.slug, r)), total: roles.length, defaultRole: org.default_role }
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
    const groups = await listGroups(this.db, org.id)
    return { results: groups.map((g) => toGroup(org.slug, g)), total: groups.length }
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
    await addGroupMembers(this.db, org.id, groupSlug, request.body.userIds, actorUserId(principalOf(request)), auditActor(request))
    const { rows } = await listGroupMembers(this.db, org.id, groupSlug, 1000, 1)
    const wanted = new Set(request.body.userIds)
    reply.code(201)
    return rows.filter((r) => wanted.has(r.user_id)).map((r) => ({
      orgSlug: org.slug, groupSlug, userId: r.user_id, createdAt: r.created_at, ...present({ email: r.email, createdBy: r.created_by })
    }))
  },
  async listOrgGroupMembers (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:members:read')
    const { groupSlug } = request.params
    const { rows, total } = await listGroupMembers(this.db, org.id, groupSlug, request.query.limit ?? 20, request.query.page ?? 1)
    return {
      results: rows.map((r) => ({ orgSlug: org.slug, groupSlug, userId: r.user_id, createdAt: r.created_at, ...present({ email: r.email, createdBy: r.created_by }) })),
      total
    }
  },
  async removeOrgGroupMembers (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:members:manage')
    await removeGroupMembers(this.db, org.id, request.params.groupSlug, request.body.userIds, auditActor(request))
    return { success: true }
  }
} satisfies Partial<Handlers>
