// What a route asks of the caller: an org it may act on with a permission, or a platform
// permission. Non-members get 404 (the org's existence is not revealed); members and keys
// lacking the permission get 403. A suspended org answers every org-scoped operation with 403
// "organization is suspended", except reading the org and un-suspending it: the check is here,
// in the one resolution every /v2/orgs/{orgSlug} route goes through, so a new route has it too.
import type { FastifyRequest } from 'fastify'
import { loadOrgAccess, type OrgAccess } from '../db/orgs.ts'
import type { Organization } from '../db/schema.ts'
import { AuthenticationError, ForbiddenError, NotFoundError } from '../lib/errors.ts'
import { permits } from '../lib/permissions.ts'
import type { Principal, UserPrincipal } from '../lib/principal.ts'
import type { AuditActor } from '../db/audit.ts'

export function principalOf (request: FastifyRequest): Principal {
  if (request.principal === null) throw new AuthenticationError()
  return request.principal
}

export function userOf (request: FastifyRequest): UserPrincipal {
  const p = principalOf(request)
  if (p.kind !== 'user') throw new ForbiddenError('This operation needs a signed-in user, not an API key')
  return p
}

/** A caller with standing in the org; `permissions` is its held set (role permissions, or the key's own list). */
export interface OrgCaller extends OrgAccess { permissions: string[] }

const SUSPENDED = 'organization is suspended'

export async function requireOrg (request: FastifyRequest, slug: string, permission: string, options: { whileSuspended?: boolean } = {}): Promise<OrgCaller> {
  return standing(await loadOrgAccess(request.server.db, principalOf(request), { slug }), slug, permission, options.whileSuspended === true)
}

function standing (access: OrgAccess | null, slug: string, permission: string, whileSuspended: boolean): OrgCaller {
  if (access === null || access.permissions === null) throw new NotFoundError(`Organization ${slug} not found`)
  if (access.org.status === 'suspended' && !whileSuspended) throw new ForbiddenError(SUSPENDED)
  if (!permits(access.permissions, permission)) throw new ForbiddenError(`Missing permission ${permission}`)
  return { ...access, permissions: access.permissions }
}

/**
 * PATCH /v2/orgs/{orgSlug} needs orgs:manage. While the org is suspended the only change allowed
 * is un-suspending it: by a signed-in member holding orgs:manage (an owner; not an API key, so a
 * leaked key cannot undo the freeze), or by a platform `admin:write` user sending only `status`.
 */
export async function requireOrgUpdate (request: FastifyRequest, slug: string, patch: { status?: string }): Promise<Organization> {
  const principal = principalOf(request)
  const access = await loadOrgAccess(request.server.db, principal, { slug })
  const unsuspending = access?.org.status === 'suspended' && patch.status === 'active'
  const onlyStatus = Object.keys(patch).every((k) => k === 'status')
  if (access !== null && unsuspending && onlyStatus && principal.kind === 'user' && permits(principal.permissions, 'admin:write')) return access.org
  return standing(access, slug, 'orgs:manage', unsuspending && principal.kind === 'user').org
}

export function requirePlatformPermission (request: FastifyRequest, permission: string): UserPrincipal {
  const user = userOf(request)
  if (!permits(user.permissions, permission)) throw new ForbiddenError(`Missing permission ${permission}`)
  return user
}

export function auditActor (request: FastifyRequest): AuditActor {
  const p = request.principal
  if (p === null) return { actorId: null, actorKind: 'system', requestId: request.id }
  return { actorId: p.kind === 'user' ? p.userId : p.keyId, actorKind: p.kind, requestId: request.id }
}
