// /v2/orgs: create, list mine, get, update, delete.
import {
  createOrganization, deleteOrganization, listOrganizationsOfUser, roleExists, slugify, slugTaken, updateOrganization
} from '../../db/orgs.ts'
import { ConflictError, ValidationError } from '../../lib/errors.ts'
import { toOrganization } from '../../lib/representations.ts'
import { auditActor, requireOrg, requireOrgUpdate, userOf } from '../access.ts'
import type { Handlers } from '../operations.ts'

async function freeSlug (request: Parameters<Handlers['createOrganization']>[0], name: string): Promise<string> {
  const base = slugify(name)
  if (!(await slugTaken(request.server.db, base))) return base
  return `${base}-${Math.random().toString(36).slice(2, 8)}`
}

export const orgHandlers = {
  async createOrganization (request, reply) {
    const user = userOf(request)
    const { name, slug, description } = request.body
    if (slug !== undefined && await slugTaken(this.db, slug)) throw new ConflictError(`Organization slug ${slug} is taken`)
    const org = await createOrganization(this.db, user.userId,
      { slug: slug ?? await freeSlug(request, name), name, description }, auditActor(request))
    reply.code(201)
    return toOrganization(org)
  },

  async listOrganizations (request) {
    const user = userOf(request)
    const { limit = 20, page = 1, search, status, sort = '-createdAt' } = request.query
    const { results, total } = await listOrganizationsOfUser(this.db, user.userId, { limit, page, search, status, sort })
    return { results: results.map(toOrganization), total }
  },

  async getOrganization (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:read', { whileSuspended: true })
    return toOrganization(org)
  },

  async updateOrganization (request) {
    const patch = request.body
    const org = await requireOrgUpdate(request, request.params.orgSlug, patch)
    if (patch.defaultRole !== undefined && !(await roleExists(this.db, org.id, patch.defaultRole))) {
      throw new ValidationError(`body/defaultRole: role ${patch.defaultRole} does not exist in this organization`,
        [{ field: 'body/defaultRole', message: 'is not a role of this organization' }])
    }
    return toOrganization(await updateOrganization(this.db, org.id, patch, auditActor(request)))
  },

  async deleteOrganization (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:delete')
    await deleteOrganization(this.db, org, auditActor(request))
    return { success: true }
  }
} satisfies Partial<Handlers>
