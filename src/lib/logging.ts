// Structured pino logs (Fastify's logger): one JSON line per event, each request's lines
// carrying its `reqId`. One line per request, when it has been answered (RequestLog), instead
// of Fastify's two. Credentials never reach them: request lines hold method, URL (secret query
// values replaced), route, org and address, never headers; headers a handler logs by hand are
// redacted too.
import { LogController, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import type { Config } from '../config.ts'

export const CENSOR = '[redacted]'

// A client may put a credential in the query string (it is refused, but the URL is logged).
const SECRET_PARAM = /key|token|secret|password|passwd|signature|auth|session|code|jwt/i

/** The URL with the value of every credential-looking query parameter replaced. */
export function redactUrl (url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const params = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=')
    const name = eq === -1 ? pair : pair.slice(0, eq)
    let decoded = name
    try { decoded = decodeURIComponent(name) } catch {}
    return eq !== -1 && SECRET_PARAM.test(decoded) ? `${name}=${CENSOR}` : pair
  })
  return `${url.slice(0, q)}?${params.join('&')}`
}

export function loggerOptions (config: Pick<Config, 'LOG_LEVEL'>): FastifyServerOptions['logger'] {
  if (config.LOG_LEVEL === 'silent') return false
  return {
    level: config.LOG_LEVEL,
    serializers: {
      req: (request: FastifyRequest) => ({
        method: request.method,
        url: redactUrl(request.url),
        host: request.host,
        remoteAddress: request.ip,
        remotePort: request.socket?.remotePort
      })
    },
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers["x-prismeai-api-key"]', 'req.headers.cookie',
        'headers.authorization', 'headers["x-api-key"]', 'headers["x-prismeai-api-key"]', 'headers.cookie'],
      censor: CENSOR
    }
  }
}

/**
 * Fastify's request logging, one line per request: nothing when it arrives, and when it has been
 * answered `request` at info (`request errored` at error when the response itself failed) with
 * what an operator looks for: method, URL, route, status, duration, org (as the path names it)
 * and the client's address, beside the `reqId` every line of the request carries.
 */
export class RequestLog extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return
    const params = request.params as { orgSlug?: string, orgId?: string } | undefined
    const line = {
      method: request.method,
      url: redactUrl(request.url),
      route: request.routeOptions.url,
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 10) / 10,
      org: params?.orgSlug ?? params?.orgId,
      ip: request.ip
    }
    if (error) reply.log.error({ ...line, err: error }, 'request errored')
    else reply.log.info(line, 'request')
  }
}
