// The optional JetStream sink (EVENTS_NATS_URL): every event is published to subject
// `orgroster.{orgSlug}.{type}` with `Nats-Msg-Id` = the event id, so JetStream drops the copy a
// retry may send. Publication reads the outbox with a cursor per org (claimed through the
// database like webhook deliveries, so one instance of a fleet publishes an org at a time, in seq
// order), and moves a cursor only past what JetStream acknowledged: a NATS outage delays
// publication, loses nothing, and never touches an API request.
import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream'
import type { Config } from '../config.ts'
import { claimSinkCursors, eventsAfter, releaseSinkCursor, toEvent } from '../db/events.ts'

const SINK = 'nats'
export const NATS_STREAM = 'ORGROSTER_EVENTS'
const ORGS_PER_ROUND = 20
const EVENTS_PER_ORG = 500
const LEASE_MS = 60000
const PUBLISH_TIMEOUT_MS = 5000
const BACKOFF_MS = 1000

export function natsSubject (orgSlug: string, type: string): string {
  return `orgroster.${orgSlug}.${type}`
}

export default fp(async function natsEvents (app, opts: { config: Config }) {
  const url = opts.config.EVENTS_NATS_URL
  if (url === undefined) return
  const pollMs = opts.config.EVENTS_POLL_MS
  const stopping = new AbortController()
  let nc: NatsConnection | null = null

  /** A connection with the stream in place; reconnects by itself once made. */
  async function client (): Promise<JetStreamClient> {
    if (nc === null || nc.isClosed()) {
      nc = await connect({ servers: url, name: 'orgroster', maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: PUBLISH_TIMEOUT_MS })
      const jsm = await jetstreamManager(nc)
      await jsm.streams.info(NATS_STREAM).catch(async () => await jsm.streams.add({ name: NATS_STREAM, subjects: ['orgroster.>'] }))
    }
    return jetstream(nc, { timeout: PUBLISH_TIMEOUT_MS })
  }

  /** Publishes what each claimed org has after its cursor; true when there was something. */
  async function round (): Promise<boolean> {
    const claimed = await claimSinkCursors(app.db, SINK, ORGS_PER_ROUND, LEASE_MS)
    if (claimed.length === 0) return false
    const js = await client().catch(async (err) => {
      await Promise.all(claimed.map(async (c) => await releaseSinkCursor(app.db, SINK, c.orgId, c.seq)))
      throw err
    })
    let failure: unknown = null
    for (const cursor of claimed) {
      let seq = cursor.seq
      try {
        for (const event of await eventsAfter(app.db, cursor.orgId, cursor.seq, EVENTS_PER_ORG)) {
          if (stopping.signal.aborted) break
          await js.publish(natsSubject(event.org_slug, event.type), JSON.stringify(toEvent(event)), { msgID: event.id, timeout: PUBLISH_TIMEOUT_MS })
          seq = event.seq
        }
      } catch (err) {
        failure ??= err
      }
      await releaseSinkCursor(app.db, SINK, cursor.orgId, seq)
    }
    if (failure !== null) throw failure
    return true
  }

  async function run (): Promise<void> {
    while (!stopping.signal.aborted) {
      let wait = pollMs
      try {
        if (await round()) wait = 0
      } catch (err) {
        if (stopping.signal.aborted) return
        app.log.warn({ err }, 'publishing events to NATS failed; retrying')
        wait = BACKOFF_MS
      }
      if (wait > 0) await sleep(wait, undefined, { signal: stopping.signal }).catch(() => {})
    }
  }

  let running: Promise<void> | null = null
  app.addHook('onReady', async () => { running = run() })
  // Registered after the db plugin, so it runs before the database closes (onClose is LIFO).
  app.addHook('onClose', async () => {
    stopping.abort()
    await running
    await nc?.close()
  })
}, { name: 'nats-events', dependencies: ['db'] })
