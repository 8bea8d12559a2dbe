// Errors as values carrying the documented bodies. openapi-fetch already returns
// `{ data } | { error }` typed per operation; `unwrap` turns that into a thrown OrgrosterError
// for code that prefers exceptions, and the SDK's helpers throw the same class.
import type { operations } from '../../../generated/openapi.js'

type JsonBodies<R> = { [S in keyof R]: `${S & (string | number)}` extends `4${string}` | `5${string}`
  ? R[S] extends { content: { 'application/json': infer B } } ? B : never
  : never }[keyof R]
/** Every error body the spec documents: the union of all operations' 4xx/5xx JSON bodies. */
export type ApiErrorBody = { [K in keyof operations]: JsonBodies<operations[K]['responses']> }[keyof operations]

/** A non-2xx answer: the HTTP status, the documented body, and the request id to quote. */
export class OrgrosterError<Body = ApiErrorBody> extends Error {
  override readonly name = 'OrgrosterError'
  readonly status: number
  readonly body: Body
  readonly requestId: string | undefined
  /** Milliseconds to wait before retrying, when the server said (429, 503). */
  readonly retryAfterMs: number | undefined

  constructor (response: Response, body: Body) {
    super(`${response.status} ${describe(body) ?? response.statusText}`)
    this.status = response.status
    this.body = body
    this.requestId = response.headers.get('x-request-id') ?? undefined
    this.retryAfterMs = retryAfter(response, body)
  }

  /** `ValidationError`, `NotFoundError`... (`/v2`, `/api/admin`) or the title (`/api/public`). */
  get kind (): string | undefined {
    const error = (this.body as { error?: unknown } | null)?.error
    if (typeof error === 'string') return error
    if (error !== null && typeof error === 'object' && typeof (error as { title?: unknown }).title === 'string') return (error as { title: string }).title
    return undefined
  }
}

/** The message of either error family, if the body has one. */
function describe (body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return typeof body === 'string' && body ? body.slice(0, 200) : undefined
  const b = body as { error?: unknown, message?: unknown }
  if (typeof b.message === 'string') return `${String(b.error)}: ${b.message}`
  if (b.error !== null && typeof b.error === 'object') {
    const e = b.error as { title?: unknown, detail?: unknown }
    return `${String(e.title)}: ${String(e.detail)}`
  }
  return undefined
}

function retryAfter (response: Response, body: unknown): number | undefined {
  const fromBody = body as { retryAfterMs?: unknown, error?: { retryAfterMs?: unknown } } | null
  const ms = fromBody?.retryAfterMs ?? fromBody?.error?.retryAfterMs
  if (typeof ms === 'number') return ms
  const header = Number(response.headers.get('retry-after'))
  return Number.isFinite(header) && header > 0 ? header * 1000 : undefined
}

/** What openapi-fetch resolves to: either data or a documented error body. */
export type Result<T, E> = { data: T, error?: never, response: Response } | { data?: never, error: E, response: Response }
/** The success body of a result (inferring from the union directly would add `undefined`). */
export type DataOf<R> = R extends { data: infer D, error?: never } ? D : never
/** The documented error bodies of a result. */
export type ErrorOf<R> = R extends { data?: never, error: infer E } ? E : never

/** The data of a successful call; throws OrgrosterError carrying the documented body otherwise. */
export async function unwrap<R extends Result<unknown, unknown>> (call: Promise<R>): Promise<DataOf<R>> {
  const result = await call
  if (result.response.ok) return result.data as DataOf<R>
  throw new OrgrosterError<ErrorOf<R>>(result.response, result.error as ErrorOf<R>)
}

/** Narrows an unknown thrown value, optionally to one status. */
export function isOrgrosterError (err: unknown, status?: number): err is OrgrosterError {
  return err instanceof OrgrosterError && (status === undefined || err.status === status)
}
