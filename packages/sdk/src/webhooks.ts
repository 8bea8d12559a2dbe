// The receiving side of a webhook: the Standard Webhooks reference library, re-exported, with a
// helper that verifies a delivery and answers its event. Its own entry point
// (`@orgroster/sdk/webhooks`), so that `standardwebhooks` is needed only by receivers: it is an
// optional peer dependency and the client itself keeps openapi-fetch as its one dependency.
import { Webhook, WebhookVerificationError } from 'standardwebhooks'
import type { OrgEvent } from './events.js'

export { Webhook, WebhookVerificationError }
export type { OrgEvent }

/**
 * Verifies a webhook delivery with its secret (`whsec_...`): `body` is the raw request body as
 * received, `headers` its headers (webhook-id, webhook-timestamp, webhook-signature). Answers the
 * event; throws WebhookVerificationError for a bad signature or a timestamp over 5 minutes off.
 */
export function verifyWebhook (secret: string, body: string | Buffer, headers: Record<string, string | string[] | undefined>): OrgEvent {
  const flat = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v[0] ?? '' : v ?? '']))
  return new Webhook(secret).verify(body, flat) as OrgEvent
}
