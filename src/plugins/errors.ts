// One error mapper for the whole service: typed errors, Fastify's own errors and database
// errors become the body of the route's API family (DESIGN.md section 8). 5xx details are
// logged, never sent.
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import fp from 'fastify-plugin'
import type { ConnectionError, FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import {
  AppError, AuthenticationError, clipErrorText, ConflictError, NotFoundError, PayloadTooLargeError, RateLimitError,
  ServiceUnavailableError, UnsupportedMediaTypeError, ValidationError
} from '../lib/errors.ts'

const PUBLIC_TITLES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  413: 'PayloadTooLarge',
  415: 'UnsupportedMediaType',
  429: 'RateLimitExceeded',
  500: 'InternalServerError',
  503: 'ServiceUnavailable'
}

interface ValidationIssue { instancePath: string, message?: string, keyword: string, params: Record<string, unknown> }

function describeValidation (err: FastifyError): ValidationError {
  const context = err.validationContext ?? 'request'
  const details = ((err.validation ?? []) as ValidationIssue[]).map((v) => {
    let field = `${context}${v.instancePath}`
    if (v.keyword === 'required') field += `/${String(v.params.missingProperty)}`
    if (v.keyword === 'additionalProperties') {
      field += `/${String(v.params.additionalProperty)}`
      return { field, message: 'is not an allowed property' }
    }
    return { field, message: v.message ?? 'is invalid' }
  })
  const first = details[0]
  return new ValidationError(first ? `${first.field} ${first.message}` : err.message, details)
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '53300'])

/** Turns anything thrown into an AppError; null means an unexpected failure (500). */
export function toAppError (err: unknown): AppError | null {
  if (err instanceof AppError) return err
  const e = err as FastifyError & { code?: string, routine?: string }
  if (e?.validation) return describeValidation(e)
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return new PayloadTooLargeError('Request body is too large')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return new UnsupportedMediaTypeError('Unsupported Content-Type')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY': return new ValidationError('body must be a JSON document')
    case 'FST_ERR_CTP_INVALID_JSON_BODY': return new ValidationError('body is not valid JSON')
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH': return new ValidationError('Content-Length does not match the body')
    case 'FST_ERR_BAD_URL': return new ValidationError('The URL is not valid (a bad percent-encoding?)')
    case 'FST_ERR_MAX_PARAM_LENGTH': return new AppError(414, 'UriTooLongError', 'A path parameter of the URL is too long')
    case '23505': return new ConflictError('Already exists')
    // A row this write refers to (a role, a user, the org) was removed by a concurrent request.
    case '23503': return new ConflictError('Something this request refers to was removed meanwhile; try again')
    case '22P02': case '22007': case '22008': case '22021': case '22P05': case '22001':
      return new ValidationError('A value has an invalid format')
  }
  if (e?.code === '40P01' || e?.code === '40001') return new ServiceUnavailableError('Concurrent update, try again')
  if (e?.code && (CONNECTION_CODES.has(e.code) || e.code.startsWith('08'))) return new ServiceUnavailableError()
  // pg's own words for a connection that died: during a query, or before the next one (a
  // transaction's connection killed while it sat between two statements).
  if (/timeout exceeded when trying to connect|Connection terminated|is not queryable/i.test(e?.message ?? '')) return new ServiceUnavailableError()
  if (e?.statusCode === 400 && e.code?.startsWith('FST_')) return new ValidationError(e.message)
  if (e?.statusCode === 401 || e?.code?.startsWith('FST_JWT')) return new AuthenticationError()
  if (e?.statusCode === 404) return new NotFoundError()
  return null
}

export function isPublicFamily (url: string): boolean {
  return url.startsWith('/api/public/')
}

export function sendError (request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  let mapped = toAppError(err)
  if (mapped === null || mapped.statusCode >= 500) {
    request.log.error({ err }, 'request failed')
  }
  const status = mapped?.statusCode ?? 500
  const message = clipErrorText(mapped?.message ?? 'Something went wrong')
  if (mapped instanceof RateLimitError) {
    request.server.metrics.rateLimited(mapped.limit)
    reply.header('retry-after', Math.max(1, Math.ceil(Number(mapped.extra.retryAfterMs) / 1000)))
  }
  if (mapped instanceof ServiceUnavailableError) reply.header('retry-after', 1)
  reply.code(status).type('application/json; charset=utf-8')
  // An answer sent before the request body was read (refused early, or failed mid-body):
  // the unread rest would be taken for the next request on the connection.
  if (!request.raw.complete) reply.header('connection', 'close')
  if (isPublicFamily(request.url)) {
    const title = PUBLIC_TITLES[status] ?? 'Error'
    const extra = mapped instanceof RateLimitError ? { retryAfterMs: mapped.extra.retryAfterMs } : {}
    return reply.send({ error: { title, detail: message, ...extra } })
  }
  mapped ??= new AppError(500, 'InternalError', message)
  return reply.send({ error: mapped.kind, message, ...mapped.extra, requestId: request.id })
}

// Errors of the HTTP parser (no request object exists): the v2 family's body on the raw socket.
const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'HeaderTooLargeError', 'The request headers (URL included) are too large'],
  HPE_INVALID_CONTENT_LENGTH: [400, 'ValidationError', 'Content-Length is not valid'],
  HPE_UNEXPECTED_CONTENT_LENGTH: [400, 'ValidationError', 'Content-Length is not valid'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'RequestTimeoutError', 'The request took too long to arrive']
}

/** Fastify's clientErrorHandler: the family's error body with an x-request-id, then close. */
export function clientErrorHandler (err: ConnectionError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, kind, message] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'ValidationError', 'The request is not valid HTTP']
  const requestId = randomUUID()
  const raw: unknown = err.rawPacket
  const path = /^[A-Z]+ (\S+)/.exec(Buffer.isBuffer(raw) ? raw.toString('latin1', 0, 200) : '')?.[1] ?? ''
  const body = JSON.stringify(isPublicFamily(path)
    ? { error: { title: status === 431 ? 'RequestHeaderFieldsTooLarge' : (PUBLIC_TITLES[status] ?? 'Error'), detail: message } }
    : { error: kind, message, requestId })
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

/** Fastify's frameworkErrors (bad URL encoding, over-long path parameter): the one error mapper. */
export function frameworkErrors (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', request.id)
  sendError(request, reply, err)
}

export default fp(async function errors (app) {
  app.setErrorHandler((err, request, reply) => sendError(request, reply, err))
  app.setNotFoundHandler((request, reply) => sendError(request, reply, new NotFoundError(`No route ${request.method} ${request.url.split('?')[0]}`)))
}, { name: 'errors' })
