// /v2/orgs/{orgSlug}/events (the outbox, oldest first) and /webhooks (endpoints, deliveries).
import { decodeCursor, encodeCursor } from '../../db/keyset.ts'
import { EVENT_TYPES, eventSeq, listEvents, toEvent } from '../../db/events.ts'
import {
  createTestDelivery, createWebhook, deleteWebhook, getDelivery, getWebhook, listDeliveries, listWebhooks,
  recordAttempts, retryDelivery, rotateWebhookSecret, toWebhook, updateWebhook
} from '../../db/webhooks.ts'
import { ValidationError } from '../../lib/errors.ts'
import { assertCovered } from '../../lib/privilege.ts'
import { actorUserId } from '../../lib/principal.ts'
import { checkWebhookUrl } from '../../lib/webhook-target.ts'
import { sendWebhook } from '../../lib/webhook-sender.ts'
import { auditActor, principalOf, requireOrg } from '../access.ts'
import type { Handlers } from '../operations.ts'

const READ = 'orgs:events:read'
const MANAGE = 'orgs:webhooks:manage'
const KNOWN_TYPES = new Set<string>(EVENT_TYPES)

function parseTypes (raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined
  const types = raw.split(',')
  const unknown = types.find((t) => !KNOWN_TYPES.has(t))
  if (unknown !== undefined) throw new ValidationError(`querystring/types: ${unknown} is not an event type`, [{ field: 'querystring/types', message: `${unknown} is not an event type` }])
  return types
}

export const eventHandlers = {
  async listOrgEvents (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, READ)
    const { after, limit = 20 } = request.query
    let afterSeq = 0
    if (after !== undefined) {
      const seq = await eventSeq(this.db, org.id, after)
      if (seq === null) throw new ValidationError('querystring/after is not an event of this organization, or is past retention', [{ field: 'querystring/after', message: 'is not an event of this organization, or is past retention' }])
      afterSeq = seq
    }
    const page = await listEvents(this.db, org.id, { afterSeq, types: parseTypes(request.query.types), limit })
    return { results: page.rows.map(toEvent) as any, nextCursor: page.next?.id ?? null }
  },

  async createOrgWebhook (request, reply) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, MANAGE)
    // An endpoint receives the org's events: only a caller who may read them may point one anywhere.
    assertCovered(permissions, [READ], 'A webhook')
    const body = request.body
    checkWebhookUrl(body.url, this.config.WEBHOOK_ALLOW_PRIVATE_NETWORKS)
    const webhook = await createWebhook(this.db, org, body, actorUserId(principalOf(request)), auditActor(request))
    reply.code(201)
    return { ...toWebhook(org.slug, webhook), secret: webhook.secret } as any
  },

  async listOrgWebhooks (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, MANAGE)
    return { results: (await listWebhooks(this.db, org.id)).map((w) => toWebhook(org.slug, w)) as any }
  },

  async getOrgWebhook (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, MANAGE)
    return toWebhook(org.slug, await getWebhook(this.db, org.id, request.params.webhookId)) as any
  },

  async updateOrgWebhook (request) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, MANAGE)
    assertCovered(permissions, [READ], 'A webhook')
    if (request.body.url !== undefined) checkWebhookUrl(request.body.url, this.config.WEBHOOK_ALLOW_PRIVATE_NETWORKS)
    return toWebhook(org.slug, await updateWebhook(this.db, org.id, request.params.webhookId, request.body, auditActor(request))) as any
  },

  async deleteOrgWebhook (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, MANAGE)
    await deleteWebhook(this.db, org.id, request.params.webhookId, auditActor(request))
    return { success: true }
  },

  async rotateOrgWebhookSecret (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, MANAGE)
    const webhook = await rotateWebhookSecret(this.db, org.id, request.params.webhookId, auditActor(request))
    return { ...toWebhook(org.slug, webhook), secret: webhook.secret } as any
  },

  async testOrgWebhook (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, MANAGE)
    const config = this.config
    const webhook = await getWebhook(this.db, org.id, request.params.webhookId)
    const delivery = await createTestDelivery(this.db, webhook, config.WEBHOOK_TIMEOUT_MS * 2, auditActor(request))
    const result = await sendWebhook({ url: delivery.url, secret: delivery.secret, ...delivery.message! }, { timeoutMs: config.WEBHOOK_TIMEOUT_MS, allowPrivate: config.WEBHOOK_ALLOW_PRIVATE_NETWORKS })
    await recordAttempts(this.db, [{ delivery, result, retry: false }], { retrySchedule: [], disableAfterHours: config.WEBHOOK_DISABLE_AFTER_HOURS })
    return await getDelivery(this.db, webhook.id, delivery.id) as any
  },

  async listOrgWebhookDeliveries (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, MANAGE)
    const webhook = await getWebhook(this.db, org.id, request.params.webhookId)
    const scope = `deliveries:${webhook.id}`
    const { limit = 20, cursor, status } = request.query
    const page = await listDeliveries(this.db, webhook.id, { limit, status, after: cursor !== undefined ? decodeCursor(scope, 'newest', cursor) : null })
    return { results: page.deliveries as any, nextCursor: page.next ? encodeCursor(scope, 'newest', page.next) : null }
  },

  async retryOrgWebhookDelivery (request, reply) {
    const { org } = await requireOrg(request, request.params.orgSlug, MANAGE)
    const webhook = await getWebhook(this.db, org.id, request.params.webhookId)
    await retryDelivery(this.db, webhook, request.params.deliveryId, auditActor(request))
    reply.code(202)
    return await getDelivery(this.db, webhook.id, request.params.deliveryId) as any
  }
} satisfies Partial<Handlers>
