// Who is calling: a signed-in user (JWT) or an org API key.
import type { Organization } from '../db/schema.ts'

export interface UserPrincipal {
  kind: 'user'
  userId: string
  sub: string
  email: string | null
  /** Platform permissions from the JWT `permissions` claim. */
  permissions: string[]
}

export interface ApiKeyPrincipal {
  kind: 'apiKey'
  keyId: string
  /** The key's org, read with the key, so the route needs no second lookup. */
  org: Organization
  permissions: string[]
}

export type Principal = UserPrincipal | ApiKeyPrincipal

/** The id written as the actor of audit events and `createdBy` fields. */
export function actorId (principal: Principal): string {
  return principal.kind === 'user' ? principal.userId : principal.keyId
}

/** A user id for `createdBy`-style columns (API keys are not users). */
export function actorUserId (principal: Principal): string | null {
  return principal.kind === 'user' ? principal.userId : null
}
