// The org's events: an iterator over the feed (oldest first, from `after` to the newest), and
// the receiving side of a webhook: the Standard Webhooks reference library, re-exported, with a
// helper that verifies a delivery and answers its event.
import type { components, operations } from '../../generated/openapi.js'
import type { OrgrosterClient } from './client.js'
import { unwrap } from './errors.js'
import { Webhook, WebhookVerificationError } from 'standardwebhooks'

export { Webhook, WebhookVerificationError }
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

/**
 * Verifies a webhook delivery with its secret (`whsec_...`): `body` is the raw request body as
 * received, `headers` its headers (webhook-id, webhook-timestamp, webhook-signature). Answers the
 * event; throws WebhookVerificationError for a bad signature or a timestamp over 5 minutes off.
 */
export function verifyWebhook (secret: string, body: string | Buffer, headers: Record<string, string | string[] | undefined>): OrgEvent {
  const flat = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v[0] ?? '' : v ?? '']))
  return new Webhook(secret).verify(body, flat) as OrgEvent
}
