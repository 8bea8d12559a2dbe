// Webhook endpoints and their deliveries. Delivery is a pipeline of claims, so a fleet of
// instances (or one with the embedded database) shares it through the database alone:
// - dispatch: each enabled webhook keeps the seq of the last event of its org it has turned into
//   deliveries; an instance locks a few webhooks (FOR UPDATE SKIP LOCKED), queues deliveries for
//   the events after that seq and moves it on, in one short transaction;
// - attempts: an instance claims due deliveries for a lease (claimed_until, taken with FOR
//   UPDATE SKIP LOCKED and committed at once), sends them outside any transaction, then records
//   each attempt and the next retry. An instance that dies mid-attempt leaves a lease that
//   expires, and another instance makes the attempt.
import { randomBytes } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Database, Webhook, WebhookDelivery } from './schema.ts'
import { recordAudit, type AuditActor } from './audit.ts'
import { toEvent, type OrgRef } from './events.ts'
import { cutPage, keysetRequest, pageQuery, type KeysetPosition } from './keyset.ts'
import { anyOf } from './arrays.ts'
import { ConflictError, NotFoundError } from '../lib/errors.ts'
import type { AttemptResult } from '../lib/webhook-sender.ts'

export const MAX_WEBHOOKS_PER_ORG = 100
export const TEST_EVENT_TYPE = 'webhook.test'

/** A Standard Webhooks secret: `whsec_` and 24 random bytes in base64. */
export function newWebhookSecret (): string {
  return `whsec_${randomBytes(24).toString('base64')}`
}

export function toWebhook (orgSlug: string, w: Webhook) {
  return {
    id: w.id,
    orgSlug,
    url: w.url,
    events: w.event_types,
    enabled: w.enabled,
    createdAt: w.created_at,
    updatedAt: w.updated_at,
    ...(w.description !== null ? { description: w.description } : {}),
    ...(w.disabled_reason !== null ? { disabledReason: w.disabled_reason } : {}),
    ...(w.failing_since !== null ? { failingSince: w.failing_since } : {})
  }
}

export interface WebhookInput { url: string, events?: string[], description?: string | null }

export async function createWebhook (db: Kysely<Database>, org: OrgRef, input: WebhookInput, by: string | null, actor: AuditActor): Promise<Webhook> {
  return await db.transaction().execute(async (trx) => {
    // Serializes creations in the org, so the cap holds under concurrency.
    await trx.selectFrom('organizations').select('id').where('id', '=', org.id).forUpdate().execute()
    const count = await trx.selectFrom('webhooks').select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', org.id).executeTakeFirstOrThrow()
    if (Number(count.n) >= MAX_WEBHOOKS_PER_ORG) throw new ConflictError(`An organization has at most ${MAX_WEBHOOKS_PER_ORG} webhooks`)
    // Only events from now on: the org's current seq is where its dispatch starts.
    const webhook = await trx.insertInto('webhooks').values({
      org_id: org.id,
      url: input.url,
      description: input.description ?? null,
      event_types: input.events ?? [],
      secret: newWebhookSecret(),
      dispatched_seq: sql<number>`coalesce((select seq from org_event_counters where org_id = ${org.id}), 0)`,
      created_by: by
    }).returningAll().executeTakeFirstOrThrow()
    await recordAudit(trx, actor, { orgId: org.id, action: 'webhook.created', targetType: 'webhook', targetId: webhook.id, metadata: { url: webhook.url, events: webhook.event_types } })
    return webhook
  })
}

export async function listWebhooks (db: Kysely<Database>, orgId: string): Promise<Webhook[]> {
  return await db.selectFrom('webhooks').selectAll().where('org_id', '=', orgId).orderBy('created_at').orderBy('id').limit(MAX_WEBHOOKS_PER_ORG).execute()
}

export async function getWebhook (db: Kysely<Database>, orgId: string, id: string): Promise<Webhook> {
  const webhook = await db.selectFrom('webhooks').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst()
  if (!webhook) throw new NotFoundError('Webhook not found')
  return webhook
}

export interface WebhookPatch { url?: string, events?: string[], description?: string | null, enabled?: boolean }

export async function updateWebhook (db: Kysely<Database>, orgId: string, id: string, patch: WebhookPatch, actor: AuditActor): Promise<Webhook> {
  return await db.transaction().execute(async (trx) => {
    const webhook = await trx.updateTable('webhooks').set({
      ...(patch.url !== undefined ? { url: patch.url } : {}),
      ...(patch.events !== undefined ? { event_types: patch.events } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled, disabled_reason: null, failing_since: null } : {}),
      updated_at: sql<string>`now()` as any
    }).where('org_id', '=', orgId).where('id', '=', id).returningAll().executeTakeFirst()
    if (!webhook) throw new NotFoundError('Webhook not found')
    await recordAudit(trx, actor, { orgId, action: 'webhook.updated', targetType: 'webhook', targetId: id, metadata: { fields: Object.keys(patch) } })
    return webhook
  })
}

export async function deleteWebhook (db: Kysely<Database>, orgId: string, id: string, actor: AuditActor): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const deleted = await trx.deleteFrom('webhooks').where('org_id', '=', orgId).where('id', '=', id).returning('id').executeTakeFirst()
    if (!deleted) throw new NotFoundError('Webhook not found')
    await recordAudit(trx, actor, { orgId, action: 'webhook.deleted', targetType: 'webhook', targetId: id })
  })
}

export async function rotateWebhookSecret (db: Kysely<Database>, orgId: string, id: string, actor: AuditActor): Promise<Webhook> {
  return await db.transaction().execute(async (trx) => {
    const webhook = await trx.updateTable('webhooks').set({ secret: newWebhookSecret(), updated_at: sql<string>`now()` as any })
      .where('org_id', '=', orgId).where('id', '=', id).returningAll().executeTakeFirst()
    if (!webhook) throw new NotFoundError('Webhook not found')
    await recordAudit(trx, actor, { orgId, action: 'webhook.secret.rotated', targetType: 'webhook', targetId: id })
    return webhook
  })
}

/** Webhooks of orgs that are gone, once nothing is left to deliver to them. */
export async function pruneOrphanWebhooks (db: Kysely<Database>): Promise<void> {
  await db.deleteFrom('webhooks')
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('organizations as o').select('o.id').whereRef('o.id', '=', 'webhooks.org_id'))))
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('webhook_deliveries as d').select('d.id').whereRef('d.webhook_id', '=', 'webhooks.id').where('d.status', '=', 'pending'))))
    .where(sql<boolean>`dispatched_seq >= coalesce((select seq from org_event_counters c where c.org_id = webhooks.org_id), 0)`)
    .execute()
}

/**
 * Queues deliveries for the events after each webhook's dispatched seq, for up to `webhooks`
 * webhooks and `events` events each. Returns how many webhooks moved on.
 */
export async function dispatchEvents (db: Kysely<Database>, webhooks = 20, events = 1000): Promise<number> {
  return await db.transaction().execute(async (trx) => {
    const due = await sql<{ id: string, org_id: string, event_types: string[], dispatched_seq: number }>`
      select w.id, w.org_id, w.event_types, w.dispatched_seq from webhooks w
      join org_event_counters c on c.org_id = w.org_id
      where w.enabled and c.seq > w.dispatched_seq
      order by w.updated_at limit ${webhooks}
      for update of w skip locked`.execute(trx)
    for (const w of due.rows) {
      // The events after the webhook's seq are a gapless prefix (migration 0501): none can
      // commit later with a smaller seq.
      await sql`with e as (
          select id, type, seq from org_events where org_id = ${w.org_id} and seq > ${w.dispatched_seq} order by seq limit ${events}
        ), queued as (
          insert into webhook_deliveries (webhook_id, event_id, event_type, next_attempt_at)
          select ${w.id}, e.id, e.type, now() from e
          where cardinality(${w.event_types}::text[]) = 0 or e.type = any (${w.event_types}::text[])
          order by e.seq
        )
        update webhooks set dispatched_seq = coalesce((select max(seq) from e), dispatched_seq) where id = ${w.id}`.execute(trx)
    }
    return due.rows.length
  })
}

export interface ClaimedDelivery {
  id: string
  webhookId: string
  eventType: string
  attempts: number
  url: string
  secret: string
  /** `webhook-id` and the body to send; null when the event is past retention. */
  message: { id: string, body: string } | null
}

interface ClaimRow {
  id: string
  webhook_id: string
  event_id: string | null
  event_type: string
  attempts: number
  url: string
  secret: string
  org_id: string
  org_slug: string | null
  e_seq: number | null
  e_org_slug: string | null
  e_actor_type: string | null
  e_actor_id: string | null
  e_data: Record<string, unknown> | null
  e_created_at: string | null
}

function messageOf (row: ClaimRow): ClaimedDelivery['message'] {
  if (row.event_id === null) {
    return { id: row.id, body: JSON.stringify({ id: row.id, type: TEST_EVENT_TYPE, timestamp: new Date().toISOString(), orgId: row.org_id, orgSlug: row.org_slug, data: { webhookId: row.webhook_id } }) }
  }
  if (row.e_seq === null) return null
  const event = toEvent({
    id: row.event_id,
    org_id: row.org_id,
    org_slug: row.e_org_slug as string,
    seq: row.e_seq,
    type: row.event_type,
    actor_type: row.e_actor_type as string,
    actor_id: row.e_actor_id,
    data: row.e_data as Record<string, unknown>,
    created_at: row.e_created_at as string
  })
  return { id: event.id, body: JSON.stringify(event) }
}

function toClaimed (row: ClaimRow): ClaimedDelivery {
  return { id: row.id, webhookId: row.webhook_id, eventType: row.event_type, attempts: row.attempts, url: row.url, secret: row.secret, message: messageOf(row) }
}

/** Claims up to `limit` due deliveries of enabled webhooks for `leaseMs`, with what to send. */
export async function claimDeliveries (db: Kysely<Database>, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  const { rows } = await sql<ClaimRow>`with due as (
      select d.id from webhook_deliveries d join webhooks w on w.id = d.webhook_id
      where d.status = 'pending' and d.next_attempt_at <= now() and (d.claimed_until is null or d.claimed_until < now()) and w.enabled
      order by d.next_attempt_at limit ${limit}
      for update of d skip locked
    ), c as (
      update webhook_deliveries d set claimed_until = now() + make_interval(secs => ${leaseMs / 1000}), attempts = d.attempts + 1, updated_at = now()
      from due, webhooks w where d.id = due.id and w.id = d.webhook_id
      returning d.id, d.webhook_id, d.event_id, d.event_type, d.attempts, w.url, w.secret, w.org_id
    )
    select c.*, o.slug as org_slug, e.seq as e_seq, e.org_slug as e_org_slug, e.actor_type as e_actor_type,
      e.actor_id as e_actor_id, e.data as e_data, e.created_at as e_created_at
    from c left join org_events e on e.id = c.event_id left join organizations o on o.id = c.org_id`.execute(db)
  return rows.map(toClaimed)
}

/** A claimed test delivery, made now for an immediate attempt (never retried). */
export async function createTestDelivery (db: Kysely<Database>, webhook: Webhook, leaseMs: number, actor: AuditActor): Promise<ClaimedDelivery> {
  await recordAudit(db, actor, { orgId: webhook.org_id, action: 'webhook.tested', targetType: 'webhook', targetId: webhook.id })
  const { rows } = await sql<ClaimRow>`with c as (
      insert into webhook_deliveries (webhook_id, event_type, attempts, claimed_until)
      values (${webhook.id}, ${TEST_EVENT_TYPE}, 1, now() + make_interval(secs => ${leaseMs / 1000}))
      returning id, webhook_id, event_id, event_type, attempts
    )
    select c.*, w.url, w.secret, w.org_id, o.slug as org_slug, null as e_seq, null as e_org_slug, null as e_actor_type,
      null as e_actor_id, null as e_data, null as e_created_at from c
    join webhooks w on w.id = c.webhook_id left join organizations o on o.id = w.org_id`.execute(db)
  return toClaimed(rows[0]!)
}

export interface RecordOptions {
  /** Delays before each retry; past the last one the delivery has failed. */
  retrySchedule: number[]
  disableAfterHours: number
}

export interface Attempted {
  delivery: ClaimedDelivery
  result: AttemptResult
  /** False for a test (never retried) and for an event past retention. */
  retry: boolean
}

/** Jitter of ±20%, so retries of many deliveries spread out. */
function withJitter (ms: number): number {
  return Math.round(ms * (0.8 + Math.random() * 0.4))
}

/**
 * Records attempts (one transaction, a few statements however many): schedules each next
 * attempt or settles the delivery, ends a webhook's failing streak on a success, and disables an
 * endpoint that has been failing for `disableAfterHours`.
 */
export async function recordAttempts (db: Kysely<Database>, attempted: Attempted[], options: RecordOptions): Promise<void> {
  if (attempted.length === 0) return
  await db.transaction().execute(async (trx) => {
    // The webhooks' rows first, in id order, as deleting a webhook takes them (its row, then its
    // deliveries by cascade): deliveries first would deadlock with that delete. A webhook
    // deleted meanwhile took its deliveries along, so their attempts are not recorded.
    const webhookIds = [...new Set(attempted.map((a) => a.delivery.webhookId))].sort()
    const alive = new Set((await trx.selectFrom('webhooks').select('id').where('id', '=', anyOf(webhookIds, 'uuid')).orderBy('id').forUpdate().execute()).map((w) => w.id))
    const kept = attempted.filter((a) => alive.has(a.delivery.webhookId))
    if (kept.length === 0) return
    const outcome = kept.map(({ delivery, result, retry }) => {
      const delay = retry ? options.retrySchedule[delivery.attempts - 1] : undefined
      return {
        id: delivery.id,
        status: result.succeeded ? 'delivered' : delay === undefined ? 'failed' : 'pending',
        delayMs: result.succeeded || delay === undefined ? null : withJitter(delay),
        code: result.responseCode
      }
    })
    // A webhook's streak follows the last of its attempts here (tests do not count).
    const last = new Map<string, boolean>()
    for (const { delivery, result } of kept) if (delivery.eventType !== TEST_EVENT_TYPE) last.set(delivery.webhookId, result.succeeded)
    const succeeded = [...last].filter(([, ok]) => ok).map(([id]) => id)
    const failed = [...last].filter(([, ok]) => !ok).map(([id]) => id)
    await trx.insertInto('webhook_attempts').values(kept.map(({ delivery, result }) => ({
      delivery_id: delivery.id,
      started_at: result.startedAt.toISOString(),
      succeeded: result.succeeded,
      response_code: result.responseCode,
      duration_ms: result.durationMs,
      response_body: result.response,
      error: result.error === null ? null : result.error.slice(0, 500)
    }))).execute()
    await sql`update webhook_deliveries d set
        status = v.status,
        next_attempt_at = case when v.delay_ms is null then null else now() + make_interval(secs => v.delay_ms / 1000.0) end,
        claimed_until = null,
        last_response_code = v.code,
        updated_at = now()
      from unnest(${outcome.map((o) => o.id)}::uuid[], ${outcome.map((o) => o.status)}::text[],
        ${outcome.map((o) => o.delayMs)}::float8[], ${outcome.map((o) => o.code)}::int[]) as v(id, status, delay_ms, code)
      where d.id = v.id`.execute(trx)
    if (succeeded.length > 0) {
      await trx.updateTable('webhooks').set({ failing_since: null }).where('id', 'in', succeeded).where('failing_since', 'is not', null).execute()
    }
    if (failed.length > 0) {
      await sql`update webhooks set
          failing_since = coalesce(failing_since, now()),
          enabled = enabled and coalesce(failing_since, now()) > now() - make_interval(hours => ${options.disableAfterHours}),
          disabled_reason = case when enabled and coalesce(failing_since, now()) <= now() - make_interval(hours => ${options.disableAfterHours})
            then ${`every delivery failed for ${options.disableAfterHours} hours`} else disabled_reason end
        where id = any (${failed}::uuid[])`.execute(trx)
    }
  })
}

/** Gives claims back untried (the instance is stopping): due again at once, attempt not counted. */
export async function releaseClaims (db: Kysely<Database>, ids: string[]): Promise<void> {
  if (ids.length === 0) return
  await db.updateTable('webhook_deliveries').set({ claimed_until: null, attempts: sql<number>`attempts - 1` })
    .where('id', 'in', ids).where('status', '=', 'pending').execute()
}

/** Makes the delivery due now, whatever its state (a failed one goes back to pending). */
export async function retryDelivery (db: Kysely<Database>, webhook: Webhook, deliveryId: string, actor: AuditActor): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const updated = await trx.updateTable('webhook_deliveries')
      .set({ status: 'pending', next_attempt_at: sql<string>`now()` as any, claimed_until: null, updated_at: sql<string>`now()` as any })
      .where('id', '=', deliveryId).where('webhook_id', '=', webhook.id).returning('id').executeTakeFirst()
    if (!updated) throw new NotFoundError('Delivery not found')
    await recordAudit(trx, actor, { orgId: webhook.org_id, action: 'webhook.delivery.retried', targetType: 'webhook', targetId: webhook.id, metadata: { deliveryId } })
  })
}

type AttemptRow = { delivery_id: string, started_at: string, succeeded: boolean, response_code: number | null, duration_ms: number, response_body: string | null, error: string | null }

export function toDelivery (d: WebhookDelivery, attempts: AttemptRow[]) {
  return {
    id: d.id,
    webhookId: d.webhook_id,
    eventId: d.event_id,
    eventType: d.event_type,
    status: d.status,
    createdAt: d.created_at,
    updatedAt: d.updated_at,
    ...(d.next_attempt_at !== null && d.status === 'pending' ? { nextAttemptAt: d.next_attempt_at } : {}),
    ...(d.last_response_code !== null ? { lastResponseCode: d.last_response_code } : {}),
    attempts: attempts.map((a) => ({
      startedAt: a.started_at,
      succeeded: a.succeeded,
      durationMs: a.duration_ms,
      ...(a.response_code !== null ? { responseCode: a.response_code } : {}),
      ...(a.response_body !== null ? { response: a.response_body } : {}),
      ...(a.error !== null ? { error: a.error } : {})
    }))
  }
}

async function attemptsOf (db: Kysely<Database>, ids: string[]): Promise<Map<string, AttemptRow[]>> {
  const byDelivery = new Map<string, AttemptRow[]>(ids.map((id) => [id, []]))
  if (ids.length === 0) return byDelivery
  const rows = await db.selectFrom('webhook_attempts')
    .select(['delivery_id', 'started_at', 'succeeded', 'response_code', 'duration_ms', 'response_body', 'error'])
    .where('delivery_id', 'in', ids).orderBy('started_at').orderBy('id').execute()
  for (const r of rows) byDelivery.get(r.delivery_id)?.push(r)
  return byDelivery
}

export async function getDelivery (db: Kysely<Database>, webhookId: string, deliveryId: string) {
  const d = await db.selectFrom('webhook_deliveries').selectAll().where('id', '=', deliveryId).where('webhook_id', '=', webhookId).executeTakeFirst()
  if (!d) throw new NotFoundError('Delivery not found')
  return toDelivery(d, (await attemptsOf(db, [d.id])).get(d.id) ?? [])
}

/** A page of the webhook's deliveries, newest first, with their attempts (at most 100 each). */
export async function listDeliveries (db: Kysely<Database>, webhookId: string, q: { limit: number, after: KeysetPosition | null, status?: WebhookDelivery['status'] }) {
  const request = keysetRequest(q.limit, q.after)
  let query = db.selectFrom('webhook_deliveries').selectAll().where('webhook_id', '=', webhookId)
  if (q.status !== undefined) query = query.where('status', '=', q.status)
  const rows = await pageQuery(query, { createdAt: 'created_at', id: 'id' }, request).execute()
  const page = cutPage(rows, request, (r) => ({ createdAt: r.created_at, id: r.id }))
  const attempts = await attemptsOf(db, page.rows.map((r) => r.id))
  return { deliveries: page.rows.map((d) => toDelivery(d, (attempts.get(d.id) ?? []).slice(-100))), next: page.next }
}
