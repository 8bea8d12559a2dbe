// The typed client: openapi-fetch over the types openapi-typescript generates from
// openapi/swagger.yml, with the credential added to every request.
import createClient, { type Client, type Middleware } from 'openapi-fetch'
import type { paths } from '../../../generated/openapi.js'

// Every optional option also takes `undefined` (as "not given"), so a project compiled with
// `exactOptionalPropertyTypes` can pass e.g. `token: process.env.ORGROSTER_TOKEN`.
export interface OrgrosterOptions {
  /** Where the service listens, e.g. `http://localhost:3000`. */
  baseUrl: string
  /** A Bearer JWT, or a function returning a fresh one before each request. */
  token?: string | (() => string | Promise<string>) | undefined
  /** An org API key (`iak_...`), sent in `x-api-key`. */
  apiKey?: string | undefined
  /** Extra headers on every request. */
  headers?: Record<string, string> | undefined
  /** A fetch implementation (default: the global one). */
  fetch?: ((input: Request) => Promise<Response>) | undefined
}

export type OrgrosterClient = Client<paths>

function credentials (options: OrgrosterOptions): Middleware {
  return {
    async onRequest ({ request }) {
      if (options.apiKey !== undefined && !request.headers.has('x-api-key')) request.headers.set('x-api-key', options.apiKey)
      if (options.token !== undefined && !request.headers.has('authorization')) {
        const token = typeof options.token === 'function' ? await options.token() : options.token
        request.headers.set('authorization', `Bearer ${token}`)
      }
      return request
    }
  }
}

export function createClientFor (options: OrgrosterOptions): OrgrosterClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {})
  })
  client.use(credentials(options))
  return client
}
