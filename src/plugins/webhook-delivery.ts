// The webhook worker of this instance, started with the app and stopped before the database
// closes. Each round: queue deliveries for new events, claim due deliveries, attempt them in
// parallel, record each attempt. An idle instance looks again every EVENTS_POLL_MS; once an
// hour it prunes what is past EVENTS_RETENTION_DAYS. Every instance runs one: the claims in
// src/db/webhooks.ts share the work out.
import { setMaxListeners } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import { pruneEvents } from '../db/events.ts'
import { claimDeliveries, dispatchEvents, pruneOrphanWebhooks, recordAttempts, releaseClaims, type Attempted, type ClaimedDelivery } from '../db/webhooks.ts'
import { sendWebhook } from '../lib/webhook-sender.ts'

const CLAIM_BATCH = 200
const PRUNE_EVERY_MS = 3600000

export default fp(async function webhookDelivery (app, opts: { config: Config }) {
  const { config } = opts
  const stopping = new AbortController()
  // Every attempt in flight listens for the stop.
  setMaxListeners(CLAIM_BATCH + 10, stopping.signal)
  // Connections to an endpoint are reused from round to round; closed with the app.
  const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 30000 }), https: new https.Agent({ keepAlive: true, maxSockets: 64, timeout: 30000 }) }
  // Longer than an attempt can take, so a live instance's claim never expires under it.
  const leaseMs = config.WEBHOOK_TIMEOUT_MS + 30000
  const recordOptions = { retrySchedule: config.WEBHOOK_RETRY_SCHEDULE, disableAfterHours: config.WEBHOOK_DISABLE_AFTER_HOURS }

  /** The attempt, or null when the instance stopped before it finished (the claim goes back). */
  async function attempt (delivery: ClaimedDelivery): Promise<Attempted | null> {
    if (delivery.message === null) {
      const result = { startedAt: new Date(), succeeded: false, responseCode: null, durationMs: 0, response: null, error: 'the event is past retention' }
      return { delivery, result, retry: false }
    }
    const result = await sendWebhook({ url: delivery.url, secret: delivery.secret, ...delivery.message },
      { timeoutMs: config.WEBHOOK_TIMEOUT_MS, allowPrivate: config.WEBHOOK_ALLOW_PRIVATE_NETWORKS, signal: stopping.signal, agents })
    if (stopping.signal.aborted && !result.succeeded) return null
    return { delivery, result, retry: true }
  }

  /** One round; true when it found work (then the next round starts at once). */
  async function round (): Promise<boolean> {
    const dispatched = await dispatchEvents(app.db)
    const claimed = await claimDeliveries(app.db, CLAIM_BATCH, leaseMs)
    const attempted = await Promise.all(claimed.map(attempt))
    await recordAttempts(app.db, attempted.filter((a): a is Attempted => a !== null), recordOptions)
    await releaseClaims(app.db, claimed.filter((_, i) => attempted[i] === null).map((d) => d.id))
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
    agents.http.destroy()
    agents.https.destroy()
  })
}, { name: 'webhook-delivery', dependencies: ['db'] })
