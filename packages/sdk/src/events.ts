// The org's events: an iterator over the feed (oldest first, from `after` to the newest).
import type { components, operations } from '../../../generated/openapi.js'
import type { OrgrosterClient } from './client.js'
import { unwrap } from './errors.js'
export type OrgEvent = components['schemas']['OrgEvent']
export type EventQuery = Omit<NonNullable<operations['listOrgEvents']['parameters']['query']>, 'limit'>

/**
 * Every event of the org after `after` (an event id; omitted: the oldest retained), oldest first,
 * until the newest; resume later with the last event's id as `after`.
 */
export async function * iterateEvents (client: OrgrosterClient, orgSlug: string, query: EventQuery = {}): AsyncGenerator<OrgEvent> {
  let after = query.after
  do {
    const page = await unwrap(client.GET('/v2/orgs/{orgSlug}/events', {
      params: { path: { orgSlug }, query: { ...query, limit: 100, ...(after === undefined ? {} : { after }) } }
    }))
    yield * page.results
    after = page.nextCursor ?? undefined
  } while (after !== undefined)
}
