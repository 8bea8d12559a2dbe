// What the API answers for each resource. One home, because events carry the same objects
// (an event's `data` is what the API returned for the change), minus secrets.
import type { GroupRow } from '../db/groups.ts'
import type { MemberRow } from '../db/members.ts'
import type { OrgApiKey, Organization, OrgRole } from '../db/schema.ts'

export const present = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined))

// A membership's optional fields in the order the API writes them (inviteExpiresAt only while invited).
const MEMBERSHIP_OPTIONAL = [
  'id', 'email', 'roleSlug', 'invitedBy', 'invitedAt', 'inviteEmail', 'inviteExpiresAt', 'joinedAt', 'joinedVia',
  'deactivatedAt', 'createdBy', 'updatedBy', 'createdAt', 'updatedAt'
] as const satisfies ReadonlyArray<keyof MemberRow>

/** OrgMembership as the seed has it: absent values are left out rather than null. */
export function toMembership (orgSlug: string, m: MemberRow, extra: { groups?: string[], inviteToken?: string } = {}) {
  const membership: Record<string, unknown> = { orgSlug, userId: m.userId, status: m.status }
  // Field by field, with no intermediate objects: this runs for every row of every page.
  for (const key of MEMBERSHIP_OPTIONAL) {
    const value = m[key]
    if (value != null && (key !== 'inviteExpiresAt' || m.status === 'invited')) membership[key] = value
  }
  if (extra.groups !== undefined) membership.groups = extra.groups
  if (extra.inviteToken !== undefined) membership.inviteToken = extra.inviteToken
  return membership as { orgSlug: string, userId: string, status: MemberRow['status'] } & Record<string, unknown>
}

export function toOrganization (org: Organization) {
  return {
    id: org.id,
    slug: org.slug,
    name: org.name,
    description: org.description,
    status: org.status,
    defaultRole: org.default_role,
    createdBy: org.created_by,
    createdAt: org.created_at,
    updatedAt: org.updated_at
  }
}

export function toApiKey (key: OrgApiKey) {
  const optional = {
    ownerType: key.owner_type, ownerId: key.owner_id, expiresAt: key.expires_at, lastUsedAt: key.last_used_at, createdBy: key.created_by
  }
  return {
    id: key.id,
    slug: key.slug,
    name: key.name,
    prefix: key.prefix,
    permissions: key.permissions,
    scopes: key.scopes,
    disabled: key.disabled,
    createdAt: key.created_at,
    updatedAt: key.updated_at,
    ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== null))
  }
}

export function toRole (orgSlug: string, r: OrgRole) {
  return {
    id: r.id,
    orgSlug,
    name: r.name,
    slug: r.slug,
    permissions: r.permissions,
    scopes: r.scopes,
    isSystem: r.is_system,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    ...present({ description: r.description, createdBy: r.created_by, updatedBy: r.updated_by })
  }
}

export function toGroup (orgSlug: string, g: GroupRow) {
  return {
    id: g.id,
    orgSlug,
    name: g.name,
    slug: g.slug,
    memberCount: Number(g.member_count ?? 0),
    createdAt: g.created_at,
    updatedAt: g.updated_at,
    ...present({ description: g.description, createdBy: g.created_by, updatedBy: g.updated_by })
  }
}
