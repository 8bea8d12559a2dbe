// Structured pino logs (Fastify's logger): one JSON line per event, each request's lines
// carrying its `reqId`. One line per request, when it has been answered (RequestLog), instead
// of Fastify's two. Credentials never reach them: request lines hold method, URL (secret query
// values replaced), route, org and address, never headers; headers a handler logs by hand are
// redacted too. Anything shaped like a credential (an org API key, a JWT, an opaque token such
// as an invitation's) is replaced wherever it appears in a logged URL, path or header value,
// whatever the parameter is called (`?q=iak_…`, `/members/<token>`).
import { LogController, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import type { Config } from '../config.ts'

export const CENSOR = '[redacted]'

// A client may put a credential in the query string (it is refused, but the URL is logged).
const SECRET_PARAM = /key|token|secret|password|passwd|signature|auth|session|code|jwt/i

// An org API key or webhook secret by its prefix (`_` possibly percent-encoded), a JWT (its
// header is base64url JSON, so it starts `eyJ`), and any other run of 32+ base64url characters
// holding both cases: invitation tokens (32 random bytes) and the like. Slugs, UUIDs, hex ids
// and cursors of one case are left readable.
const CREDENTIAL = /(?:iak|whsec)(?:_|%5f)[A-Za-z0-9_%-]+|eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*|[A-Za-z0-9_-]{32,}/gi
const MIXED_CASE = /[a-z].*[A-Z]|[A-Z].*[a-z]/

/** The text with every credential-shaped substring replaced. */
export function redactCredentials (text: string): string {
  return text.replace(CREDENTIAL, (match) => {
    if (/^(iak|whsec)(_|%5f)|^eyJ/i.test(match) || MIXED_CASE.test(match)) return CENSOR
    return match
  })
}

/** Each header value with credential-shaped strings replaced (for headers a handler logs). */
function redactHeaders (headers: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) =>
    [name, typeof value === 'string' ? redactCredentials(value) : Array.isArray(value) ? value.map((v) => redactCredentials(String(v))) : value]))
}

/** The URL with the value of every credential-looking query parameter replaced, and every credential-shaped string anywhere. */
export function redactUrl (url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return redactCredentials(url)
  const params = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=')
    const name = eq === -1 ? pair : pair.slice(0, eq)
    let decoded = name
    try { decoded = decodeURIComponent(name) } catch {}
    return eq !== -1 && SECRET_PARAM.test(decoded) ? `${name}=${CENSOR}` : pair
  })
  return redactCredentials(`${url.slice(0, q)}?${params.join('&')}`)
}

export function loggerOptions (config: Pick<Config, 'LOG_LEVEL'>): FastifyServerOptions['logger'] {
  if (config.LOG_LEVEL === 'silent') return false
  return {
    level: config.LOG_LEVEL,
    serializers: {
      req: (request: FastifyRequest) => ({
        method: request.method,
        url: redactUrl(request.url),
        host: redactCredentials(request.host),
        remoteAddress: request.ip,
        remotePort: request.socket?.remotePort
      }),
      headers: redactHeaders
    },
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers["x-prismeai-api-key"]', 'req.headers.cookie',
        'headers.authorization', 'headers["x-api-key"]', 'headers["x-prismeai-api-key"]', 'headers.cookie'],
      censor: CENSOR
    }
  }
}

/** pino's level values ('silent' writes nothing). */
const LEVELS: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity }

/**
 * Fastify's request logging, one line per request: nothing when it arrives, and when it has been
 * answered `request` at info (`request errored` at error when the response itself failed) with
 * what an operator looks for: method, URL, route, status, duration, org (as the path names it)
 * and the client's address, beside the `reqId` every line of the request carries.
 */
export class RequestLog extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    // Built only when it will be written: with logging off (LOG_LEVEL silent, or a level above
    // info) every answered request would otherwise pay for redacting its URL.
    const threshold = LEVELS[reply.log.level] // undefined for Fastify's logger when logging is off
    if (this.isLogDisabled(request) || threshold === undefined || threshold > LEVELS[error ? 'error' : 'info']!) return
    const params = request.params as { orgSlug?: string, orgId?: string } | undefined
    const line = {
      method: request.method,
      url: redactUrl(request.url),
      route: request.routeOptions.url,
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 10) / 10,
      org: redactCredentials(params?.orgSlug ?? params?.orgId ?? '') || undefined,
      ip: request.ip
    }
    if (error) reply.log.error({ ...line, err: error }, 'request errored')
    else reply.log.info(line, 'request')
  }
}
