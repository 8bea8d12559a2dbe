// One delivery attempt: a Standard Webhooks POST signed with the reference library, through a
// connection whose resolved address is checked (webhook-target.ts), within a timeout, keeping the
// first 1 KB of the answer. Never throws: every outcome is an attempt to record.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import { isIP, type LookupFunction } from 'node:net'
import { Webhook } from 'standardwebhooks'
import { isPrivateAddress } from './webhook-target.ts'

export interface WebhookMessage {
  url: string
  secret: string
  /** `webhook-id`: the event id, the same on every retry. */
  id: string
  body: string
}

export interface SendOptions {
  timeoutMs: number
  allowPrivate: boolean
  signal?: AbortSignal
  /** Keep-alive agents to reuse connections (new sockets still go through the checked lookup). */
  agents?: { http: http.Agent, https: https.Agent }
}

export interface AttemptResult {
  startedAt: Date
  succeeded: boolean
  responseCode: number | null
  durationMs: number
  response: string | null
  error: string | null
}

const RESPONSE_KEPT = 1024

class RefusedTarget extends Error {}

/** dns.lookup, refusing (before any connection) a name that resolves to a private address. */
function guardedLookup (allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0)
      const usable = allowPrivate ? addresses : addresses.filter((a) => !isPrivateAddress(a.address))
      if (usable.length === 0) return callback(new RefusedTarget(`${hostname} resolves to a private, loopback or link-local address`), '', 0)
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, usable)
      callback(null, usable[0]!.address, usable[0]!.family)
    })
  }
}

export function signedHeaders (message: WebhookMessage, at: Date): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'orgroster-webhooks/1',
    'webhook-id': message.id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(message.secret).sign(message.id, at, message.body)
  }
}

export async function sendWebhook (message: WebhookMessage, options: SendOptions): Promise<AttemptResult> {
  const startedAt = new Date()
  const started = performance.now()
  const done = (r: Omit<AttemptResult, 'startedAt' | 'durationMs'>): AttemptResult =>
    ({ startedAt, durationMs: Math.round(performance.now() - started), ...r })
  let url: URL
  try {
    url = new URL(message.url)
  } catch {
    return done({ succeeded: false, responseCode: null, response: null, error: 'the URL is not valid' })
  }
  if (url.protocol !== 'https:' && !(options.allowPrivate && url.protocol === 'http:')) {
    return done({ succeeded: false, responseCode: null, response: null, error: 'only https targets are allowed' })
  }
  const literal = url.hostname.replace(/^\[|\]$/g, '')
  // An address literal is connected to without a lookup, so it is checked here.
  if (!options.allowPrivate && isIP(literal) !== 0 && isPrivateAddress(literal)) {
    return done({ succeeded: false, responseCode: null, response: null, error: 'the target is a private, loopback or link-local address' })
  }
  const headers = signedHeaders(message, startedAt)
  return await new Promise<AttemptResult>((resolve) => {
    let settled = false
    const finish = (r: Omit<AttemptResult, 'startedAt' | 'durationMs'>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      resolve(done(r))
    }
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(message.body)) },
      lookup: guardedLookup(options.allowPrivate),
      agent: options.agents === undefined ? false : url.protocol === 'https:' ? options.agents.https : options.agents.http
    }, (res) => {
      const kept: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        if (size < RESPONSE_KEPT) kept.push(chunk.subarray(0, RESPONSE_KEPT - size))
        size += chunk.length
      })
      res.on('end', () => {
        const code = res.statusCode ?? 0
        finish({ succeeded: code >= 200 && code < 300, responseCode: code, response: Buffer.concat(kept).toString('utf8'), error: code >= 200 && code < 300 ? null : `the endpoint answered ${code}` })
      })
      res.on('error', (err) => finish({ succeeded: false, responseCode: res.statusCode ?? null, response: null, error: err.message }))
    })
    const timer = setTimeout(() => {
      finish({ succeeded: false, responseCode: null, response: null, error: `no answer within ${options.timeoutMs} ms` })
      request.destroy()
    }, options.timeoutMs)
    const onAbort = () => {
      finish({ succeeded: false, responseCode: null, response: null, error: 'the service is shutting down' })
      request.destroy()
    }
    options.signal?.addEventListener('abort', onAbort)
    request.on('error', (err) => finish({ succeeded: false, responseCode: null, response: null, error: err instanceof RefusedTarget ? err.message : `connection failed: ${err.message}` }))
    request.end(message.body)
  })
}
