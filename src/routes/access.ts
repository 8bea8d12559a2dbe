// What a route asks of the caller: an org it may act on with a permission, or a platform
// permission. Non-members get 404 (the org's existence is not revealed); members and keys
// lacking the permission get 403.
import type { FastifyRequest } from 'fastify'
import { loadOrgAccess, type OrgAccess } from '../db/orgs.ts'
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

export async function requireOrg (request: FastifyRequest, slug: string, permission: string): Promise<OrgAccess> {
  const access = await loadOrgAccess(request.server.db, principalOf(request), { slug })
  if (access === null || access.permissions === null) throw new NotFoundError(`Organization ${slug} not found`)
  if (!permits(access.permissions, permission)) throw new ForbiddenError(`Missing permission ${permission}`)
  return access
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
