// GET /api/public/organizations/{orgId}/members, exactly as the seed list-org-members-public.md:
// admins only, 404 for an org that does not exist or that the caller may not administer (a
// suspended org is administered by nobody; the seed has no 403).
import { loadOrgAccess } from '../../db/orgs.ts'
import { dataEnvelope, pageRequest } from '../../db/keyset.ts'
import { listMembersPage, memberPosition, type MemberRow } from '../../db/members.ts'
import { NotFoundError } from '../../lib/errors.ts'
import { permits } from '../../lib/permissions.ts'
import { principalOf } from '../access.ts'
import type { Handlers } from '../operations.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const ADMIN_PERMISSION = 'orgs:members:manage'

function toMemberResponse (m: MemberRow, adminRoles: Set<string>) {
  return {
    id: m.id,
    createdAt: m.createdAt,
    deactivatedAt: m.deactivatedAt,
    role: adminRoles.has(m.roleSlug) ? 'ADMIN' as const : 'MEMBER' as const,
    userId: m.userId,
    organizationId: m.orgId,
    user: {
      id: m.userId,
      fullName: m.fullName ?? ([m.givenName, m.familyName].filter(Boolean).join(' ') || (m.email ?? '')),
      avatarUrl: m.avatarUrl,
      email: m.email ?? '',
      isEmailVerified: m.emailVerified,
      createdAt: m.userCreatedAt,
      firstName: m.givenName,
      title: m.title
    }
  }
}

export const publicHandlers = {
  async listPublicOrgMembers (request) {
    const { orgId } = request.params
    const notFound = new NotFoundError('Organization not found')
    // The format is public, so saying what was expected reveals nothing about any org.
    if (!UUID.test(orgId)) throw new NotFoundError("Organization not found: orgId is the organization's id (a UUID, the id of GET /v2/orgs/{orgSlug}), not its slug")
    const access = await loadOrgAccess(this.db, principalOf(request), { id: orgId.toLowerCase() })
    if (access === null || access.permissions === null || access.org.status === 'suspended' || !permits(access.permissions, ADMIN_PERMISSION)) throw notFound
    const cursor = { kind: 'id', lookup: async (id: string) => await memberPosition(this.db, access.org.id, id) } as const
    const paging = await pageRequest(cursor, request.query, 50)
    const [page, roles] = await Promise.all([
      listMembersPage(this.db, access.org.id, { statuses: ['active', 'suspended'] }, paging),
      this.db.selectFrom('org_roles').select(['slug', 'permissions']).where('org_id', '=', access.org.id).execute()
    ])
    const adminRoles = new Set(roles.filter((r) => permits(r.permissions, ADMIN_PERMISSION)).map((r) => r.slug))
    return dataEnvelope(cursor, paging, page, (m) => toMemberResponse(m, adminRoles))
  }
} satisfies Partial<Handlers>
