// Issue 12's HTTP reproductions: no body or no Content-Type, deep JSON, Connection: close when
// answering before the body was read, a keep-alive connection still usable after an import
// failed mid-body, and Fastify's own client errors in the family body (both databases).
import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { randomUUID } from 'node:crypto'
import { bearer, buildTestApp, databaseName, ownerWithOrg } from './helper.ts'
import { listenTestApp } from './listen.ts'
import { MAX_JSON_DEPTH } from '../src/lib/text.ts'

t.comment(`database: ${databaseName}`)

const email = (): string => `${randomUUID()}@example.com`

t.test('HTTP: no body, no Content-Type, deep JSON, and errors in the family body', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const url = `/v2/orgs/${owner.slug}/members/import`
  const none = await ctx.app.inject({ method: 'POST', url, headers: bearer(owner.token) })
  t.equal(none.statusCode, 400)
  t.match(none.json(), { error: 'ValidationError', message: 'body is required (text/csv)', requestId: String })
  const untyped = await ctx.app.inject({ method: 'POST', url, headers: { ...bearer(owner.token), 'content-length': '6' }, payload: 'email\n' })
  t.equal(untyped.statusCode, 415)
  t.match(untyped.json(), { error: 'UnsupportedMediaTypeError' })
  const deep = '['.repeat(10000) + ']'.repeat(10000)
  const nested = await ctx.app.inject({ method: 'POST', url: `/v2/orgs/${owner.slug}/members`, headers: { ...bearer(owner.token), 'content-type': 'application/json' }, payload: `{"users":${deep}}` })
  t.equal(nested.statusCode, 400)
  t.match(nested.json(), { error: 'ValidationError', message: `body is nested deeper than ${MAX_JSON_DEPTH} levels` })
})

async function send (port: number, agent: http.Agent, options: http.RequestOptions, body?: Buffer | string): Promise<{ status: number, headers: http.IncomingHttpHeaders, body: string, reused: boolean }> {
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent, ...options }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => { text += d }).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text, reused: req.reusedSocket }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

t.test('HTTP: an answer sent before the body was read closes the connection; one after a mid-body failure keeps it usable', async (t) => {
  const ctx = await listenTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const port = Number(new URL(ctx.baseUrl).port)
  const path = `/v2/orgs/${owner.slug}/members/import`
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const big = 'email\r\n' + `${email()}\r\n`.repeat(20000)
  const refused = await send(port, agent, { method: 'POST', path, headers: { 'content-type': 'text/csv', authorization: 'Bearer nope' } }, big)
  t.equal(refused.status, 401)
  t.equal(refused.headers.connection, 'close', 'refused before the body was read')
  t.ok(refused.headers['x-request-id'])
  // A file whose line 3 is not UTF-8, followed by much more: the 400 comes once the body is read.
  const bad = Buffer.concat([Buffer.from(`email\r\n${email()}\r\n`), Buffer.from([0xff, 0x0d, 0x0a]), Buffer.from(big)])
  const first = await send(port, agent, { method: 'POST', path, headers: { 'content-type': 'text/csv', authorization: `Bearer ${owner.token}` } }, bad)
  t.equal(first.status, 400)
  t.not(first.headers.connection, 'close')
  const next = await send(port, agent, { method: 'GET', path: `/v2/orgs/${owner.slug}`, headers: { authorization: `Bearer ${owner.token}` } })
  t.equal(next.status, 200, 'the next request on the same connection is answered')
  t.ok(next.reused, 'on the same socket')
})

t.test('HTTP: Fastify\'s own client errors answer in the family body with an x-request-id', async (t) => {
  const ctx = await listenTestApp(t)
  const port = Number(new URL(ctx.baseUrl).port)
  const raw = async (request: string): Promise<string> => await new Promise((resolve) => {
    let out = ''
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request))
    socket.on('data', (d) => { out += d.toString('latin1') }).on('close', () => resolve(out)).on('error', () => resolve(out))
  })
  const cases: Array<[string, string, number, string]> = [
    ['bad percent-encoding', 'GET /v2/orgs/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400, 'ValidationError'],
    ['414', `GET /v2/orgs/${'a'.repeat(200)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 414, 'UriTooLongError'],
    ['431', `GET /v2/orgs HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`, 431, 'HeaderTooLargeError'],
    ['Content-Length: -1', 'POST /v2/orgs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400, 'ValidationError']
  ]
  for (const [name, request, status, error] of cases) {
    const answer = await raw(request)
    const [head, body] = answer.split('\r\n\r\n')
    t.match(head, new RegExp(`^HTTP/1.1 ${status} `), name)
    const id = /x-request-id: (\S+)/i.exec(head ?? '')?.[1]
    t.ok(id, `${name}: x-request-id`)
    t.match(JSON.parse(body ?? '{}'), { error, message: String, requestId: id }, name)
  }
})
