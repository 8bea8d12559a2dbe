// The webhook worker of this instance, started with the app and stopped before the database
// closes. Each round: queue deliveries for new events, claim due deliveries, attempt them in
// parallel, record each attempt. An idle instance looks again every EVENTS_POLL_MS; once an
// hour it prunes what is past EVENTS_RETENTION_DAYS. Every instance runs one: the claims in
// src/db/webhooks.ts share the work out.
import { setMaxListeners } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import { pruneEvents } from '../db/events.ts'
import { claimDeliveries, dispatchEvents, pruneOrphanWebhooks, recordAttempt, releaseClaims, type ClaimedDelivery } from '../db/webhooks.ts'
import { sendWebhook, type AttemptResult } from '../lib/webhook-sender.ts'

const CLAIM_BATCH = 50
const PRUNE_EVERY_MS = 3600000

export default fp(async function webhookDelivery (app, opts: { config: Config }) {
  const { config } = opts
  const stopping = new AbortController()
  // Every attempt in flight listens for the stop.
  setMaxListeners(CLAIM_BATCH + 10, stopping.signal)
  // Longer than an attempt can take, so a live instance's claim never expires under it.
  const leaseMs = config.WEBHOOK_TIMEOUT_MS + 30000
  const recordOptions = { retrySchedule: config.WEBHOOK_RETRY_SCHEDULE, disableAfterHours: config.WEBHOOK_DISABLE_AFTER_HOURS, retry: true }

  async function attempt (delivery: ClaimedDelivery): Promise<string | null> {
    let result: AttemptResult
    if (delivery.message === null) {
      result = { startedAt: new Date(), succeeded: false, responseCode: null, durationMs: 0, response: null, error: 'the event is past retention' }
      await recordAttempt(app.db, delivery, result, { ...recordOptions, retry: false })
      return null
    }
    result = await sendWebhook({ url: delivery.url, secret: delivery.secret, ...delivery.message },
      { timeoutMs: config.WEBHOOK_TIMEOUT_MS, allowPrivate: config.WEBHOOK_ALLOW_PRIVATE_NETWORKS, signal: stopping.signal })
    if (stopping.signal.aborted && !result.succeeded) return delivery.id
    await recordAttempt(app.db, delivery, result, recordOptions)
    return null
  }

  /** One round; true when it found work (then the next round starts at once). */
  async function round (): Promise<boolean> {
    const dispatched = await dispatchEvents(app.db)
    const claimed = await claimDeliveries(app.db, CLAIM_BATCH, leaseMs)
    const unsent = (await Promise.all(claimed.map(attempt))).filter((id): id is string => id !== null)
    await releaseClaims(app.db, unsent)
    return dispatched > 0 || claimed.length > 0
  }

  async function run (): Promise<void> {
    let prunedAt = 0
    while (!stopping.signal.aborted) {
      let busy = false
      try {
        if (Date.now() - prunedAt >= PRUNE_EVERY_MS) {
          await pruneEvents(app.db, config.EVENTS_RETENTION_DAYS)
          await pruneOrphanWebhooks(app.db)
          prunedAt = Date.now()
        }
        busy = await round()
      } catch (err) {
        if (stopping.signal.aborted) return
        app.log.error({ err }, 'webhook delivery round failed; retrying')
      }
      if (!busy) await sleep(config.EVENTS_POLL_MS, undefined, { signal: stopping.signal }).catch(() => {})
    }
  }

  let running: Promise<void> | null = null
  app.addHook('onReady', async () => { running = run() })
  // Registered after the db plugin, so it runs before the database closes (onClose is LIFO).
  app.addHook('onClose', async () => {
    stopping.abort()
    await running
  })
}, { name: 'webhook-delivery', dependencies: ['db'] })
