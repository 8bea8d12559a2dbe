// Permission strings are `{product}:{resource}:{action}`; a grant may end in `*` (`orgs:*`),
// and `*` alone grants everything.
export function permits (granted: readonly string[], needed: string): boolean {
  for (const grant of granted) {
    if (grant === '*' || grant === needed) return true
    if (grant.endsWith('*') && needed.startsWith(grant.slice(0, -1))) return true
  }
  return false
}

export const BUILT_IN_ROLES = [
  { slug: 'owner', name: 'Owner', description: 'Full control of the organization.', permissions: ['orgs:*'] },
  {
    slug: 'admin',
    name: 'Admin',
    description: 'Manages members, roles, API keys, invites and webhooks; reads events.',
    permissions: ['orgs:read', 'orgs:members:read', 'orgs:members:manage', 'orgs:roles:manage', 'orgs:apikeys:manage', 'orgs:invites:manage', 'orgs:webhooks:manage', 'orgs:events:read']
  },
  { slug: 'member', name: 'Member', description: 'Sees the organization.', permissions: ['orgs:read'] }
] as const
