// Iterating every member across pages: async iterators over the keyset cursor, so a caller
// writes `for await (const m of api.members('acme'))` and never handles a cursor.
import type { operations } from '../../../generated/openapi.js'
import type { OrgrosterClient } from './client.js'
import { unwrap } from './errors.js'

type ListQuery = NonNullable<operations['listOrgMembers']['parameters']['query']>
/** Filters of listOrgMembers; paging (`cursor`, `page`, `sort`) is the iterator's job. */
export type MemberFilters = Omit<ListQuery, 'cursor' | 'page' | 'sort'>
export type OrgMembership = operations['listOrgMembers']['responses'][200]['content']['application/json']['results'][number]
export type PublicMember = operations['listPublicOrgMembers']['responses'][200]['content']['application/json']['data'][number]

/** Every membership of an org (listOrgMembers), newest first, 100 per request by default. */
export async function * iterateMembers (client: OrgrosterClient, orgSlug: string, filters: MemberFilters = {}): AsyncGenerator<OrgMembership> {
  let cursor: string | undefined
  do {
    const page = await unwrap(client.GET('/v2/orgs/{orgSlug}/members', {
      params: { path: { orgSlug }, query: { limit: 100, ...filters, sort: '-createdAt', ...(cursor === undefined ? {} : { cursor }) } }
    }))
    yield * page.results
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined)
}

export interface PublicMemberOptions {
  /** Page size (1-100, default 100). */
  limit?: number | undefined
  /** Start after this member: the public list's cursor is a member's id, as its seed says. */
  after?: string | undefined
}

/** Every member of the public list (GET /api/public/organizations/{orgId}/members), newest first. */
export async function * iteratePublicMembers (client: OrgrosterClient, orgId: string, options: PublicMemberOptions = {}): AsyncGenerator<PublicMember> {
  let cursor = options.after
  do {
    const page = await unwrap(client.GET('/api/public/organizations/{orgId}/members', {
      params: { path: { orgId }, query: { limit: options.limit ?? 100, ...(cursor === undefined ? {} : { cursor }) } }
    }))
    yield * page.data
    // nextCursor is the id of the page's last member (null on the last page).
    cursor = page.pagination.nextCursor ?? undefined
  } while (cursor !== undefined)
}
