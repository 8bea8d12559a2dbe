// Binds handlers to the spec by operationId. Each handler's body, query, params and reply types
// come from the generated types; `routes` (generated) gives method, URL, schemas and security.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify'
import type { operations } from '../../generated/openapi.js'
import { routes, type OperationId } from '../../generated/routes.ts'
import { UnsupportedMediaTypeError, ValidationError } from '../lib/errors.ts'
import { findUnstorable } from '../lib/text.ts'

type Op<K extends OperationId> = K extends keyof operations ? operations[K] : never
type JsonOf<T> = T extends { content: { 'application/json': infer B } } ? B : never
type BodyOf<O> = O extends { requestBody?: infer R } ? JsonOf<NonNullable<R>> : never
type QueryOf<O> = O extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never
type ParamsOf<O> = O extends { parameters: { path?: infer P } } ? NonNullable<P> : never
type SuccessOf<O> = O extends { responses: infer R }
  ? JsonOf<R extends { 200: infer S } ? S : R extends { 201: infer S } ? S : never>
  : never

export interface RouteTypes<K extends OperationId> {
  Body: BodyOf<Op<K>>
  Querystring: QueryOf<Op<K>>
  Params: ParamsOf<Op<K>>
}

export type OpRequest<K extends OperationId> = FastifyRequest<RouteTypes<K>>
export type OpReply<K extends OperationId> = SuccessOf<Op<K>>

/** A handler returns the success body, or takes over the reply itself (streams) and returns it. */
export type Handler<K extends OperationId> =
  (this: FastifyInstance, request: OpRequest<K>, reply: FastifyReply) => Promise<OpReply<K> | FastifyReply>

export type Handlers = { [K in OperationId]: Handler<K> }

/** A body in a media type the operation does not declare is a 415, whatever parser took it. */
function checkContentType (request: FastifyRequest, accepted: readonly string[]): void {
  const header = request.headers['content-type']
  if (header === undefined) {
    if (hasBody(request)) throw new UnsupportedMediaTypeError(`A body needs a Content-Type: ${accepted.join(' or ')}`)
    return
  }
  const essence = header.split(';')[0]!.trim().toLowerCase()
  if (!accepted.includes(essence)) throw new UnsupportedMediaTypeError(`Content-Type must be ${accepted.join(' or ')}`)
}

/** Whether the request carries a body at all (a length above zero, or chunked). */
function hasBody (request: FastifyRequest): boolean {
  return Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined
}

/** A JSON body (plain object or array); a streamed body (the CSV import) is checked by its reader. */
function isParsedJson (body: unknown): boolean {
  if (body === null || typeof body !== 'object') return false
  const proto = Object.getPrototypeOf(body)
  return Array.isArray(body) || proto === Object.prototype || proto === null
}

function checkStorable (request: FastifyRequest): void {
  const field = findUnstorable(request.params, 'params') ?? findUnstorable(request.query, 'querystring') ??
    (isParsedJson(request.body) ? findUnstorable(request.body, 'body') : null)
  if (field !== null) throw new ValidationError(`${field} contains a NUL byte or an unpaired surrogate`, [{ field, message: 'contains a NUL byte or an unpaired surrogate' }])
}

/** The handler, with its promise kept in app.handlersInFlight until it settles (see app.ts). */
function tracked (app: FastifyInstance, handler: RouteHandlerMethod): RouteHandlerMethod {
  return function (this: FastifyInstance, request, reply) {
    const work = Promise.resolve(handler.call(this, request, reply))
    app.handlersInFlight.add(work)
    work.then(() => app.handlersInFlight.delete(work), () => app.handlersInFlight.delete(work))
    return work
  }
}

/** Registers the given operations in this (encapsulated) context. */
export function registerOperations (app: FastifyInstance, handlers: Partial<Handlers>): void {
  for (const id of Object.keys(handlers) as OperationId[]) {
    const def = routes[id]
    const security = def.security as readonly string[]
    const bodyTypes = def.bodyTypes as readonly string[]
    app.route({
      method: def.method,
      url: def.url,
      schema: def.schema as any,
      config: { operationId: id },
      ...(security.length > 0
        ? { onRequest: async (request: FastifyRequest) => { await app.authenticate(request, security) } }
        : {}),
      preValidation: async (request: FastifyRequest) => {
        if (bodyTypes.length > 0) {
          if (request.headers['content-type'] === undefined && !('bodyOptional' in def) && !hasBody(request)) {
            throw new ValidationError(`body is required (${bodyTypes.join(' or ')})`, [{ field: 'body', message: 'is required' }])
          }
          checkContentType(request, bodyTypes)
          // Runs before schema validation: a POST without its optional body validates as {}.
          if ('bodyOptional' in def && request.body === undefined) request.body = {}
        } else if (request.body !== undefined) {
          // Never parsed and ignored: an operation without a request body refuses one.
          throw new UnsupportedMediaTypeError('This operation takes no request body')
        }
        checkStorable(request)
      },
      handler: tracked(app, handlers[id] as unknown as RouteHandlerMethod)
    })
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    operationId?: string
  }
}
