// A real local webhook endpoint for tests: an HTTP server on a random port that verifies every
// delivery's signature with the Standard Webhooks reference library and keeps what it got.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'

export interface Received {
  id: string
  headers: IncomingHttpHeaders
  body: any
  /** True when the signature verified with the receiver's secret. */
  verified: boolean
  at: number
}

export interface Receiver {
  url: string
  port: number
  received: Received[]
  /** The secret signatures are checked with (set it from the create answer). */
  secret: string | null
  /** The status to answer for the next delivery (default 200); a promise holds the answer back. */
  respond: (message: Received) => number | Promise<number>
  close: () => Promise<void>
  /** Resolves once `predicate` holds of what was received, or rejects after `ms`. */
  waitFor: (predicate: (received: Received[]) => boolean, ms?: number) => Promise<Received[]>
}

export async function startReceiver (port = 0): Promise<Receiver> {
  const receiver: Receiver = {
    url: '',
    port: 0,
    received: [],
    secret: null,
    respond: () => 200,
    close: async () => { await new Promise<void>((resolve) => server.close(() => resolve())); server.closeAllConnections() },
    waitFor: async (predicate, ms = 30000) => {
      const until = Date.now() + ms
      while (!predicate(receiver.received)) {
        if (Date.now() > until) throw new Error(`the receiver did not get what was awaited within ${ms} ms (got ${receiver.received.length})`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      return receiver.received
    }
  }
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      let verified = false
      try {
        if (receiver.secret !== null) { new Webhook(receiver.secret).verify(raw, req.headers as Record<string, string>); verified = true }
      } catch {}
      const message = { id: String(req.headers['webhook-id']), headers: req.headers, body: JSON.parse(raw), verified, at: Date.now() }
      receiver.received.push(message)
      const status = await receiver.respond(message)
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : `failing with ${status}`)
    })
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()))
  receiver.port = (server.address() as AddressInfo).port
  receiver.url = `http://127.0.0.1:${receiver.port}/hooks`
  return receiver
}
