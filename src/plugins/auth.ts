// Authentication: Bearer JWTs (algorithm pinned, exp and sub required, iss/aud checked when
// configured) and org API keys (x-api-key or x-prismeai-api-key). Every failure is a 401 in
// the family's body (a 429 once the failed-auth limiter's ceiling is passed); nothing about the
// credential is logged.
import { createHash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import type { FastifyRequest } from 'fastify'
import { AuthenticationError, NotFoundError, RateLimitError } from '../lib/errors.ts'
import { FailureLimiter, RedisFailureLimiter, type FailureCounter } from '../lib/failure-limiter.ts'
import type { Principal } from '../lib/principal.ts'
import type { JwtKeys } from '../lib/jwt-keys.ts'
import type { Config } from '../config.ts'
import { upsertUserFromClaims } from '../db/users.ts'
import { hashSecret, touchApiKey, verifyApiKey } from '../db/api-keys.ts'

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
  }
  interface FastifyInstance {
    /** Authenticates a request for a route whose spec allows these security schemes. */
    authenticate: (request: FastifyRequest, schemes: readonly string[]) => Promise<void>
    jwtKeys: JwtKeys
  }
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/

function apiKeyHeader (request: FastifyRequest): string | undefined {
  const value = request.headers['x-api-key'] ?? request.headers['x-prismeai-api-key']
  if (Array.isArray(value)) throw new AuthenticationError('Send one API key')
  return value
}

/**
 * What the failure limiter counts a credential as: an API key by its public prefix, anything
 * else by a short SHA-256 (the credential itself is never stored), "none" when none was sent.
 */
export function credentialFingerprint (request: FastifyRequest): string {
  const sent = request.headers['x-api-key'] ?? request.headers['x-prismeai-api-key'] ?? request.headers.authorization
  if (sent === undefined) return 'none'
  const raw = [sent].flat().join(',')
  const prefix = /iak_[a-z0-9-]*_([0-9a-f]{16})_/.exec(raw)?.[1]
  return prefix !== undefined ? `key:${prefix}` : createHash('sha256').update(raw).digest('hex').slice(0, 16)
}

export default fp(async function auth (app, opts: { config: Config, jwtKeys: JwtKeys }) {
  const { config, jwtKeys } = opts
  const requiredClaims = ['exp', 'sub', ...(config.JWT_ISSUER ? ['iss'] : []), ...(config.JWT_AUDIENCE ? ['aud'] : [])]
  await app.register(fastifyJwt, {
    secret: jwtKeys.signKey ? jwtKeys.signKey : { public: jwtKeys.verifyKey },
    sign: { algorithm: jwtKeys.algorithm, ...(config.JWT_ISSUER ? { iss: config.JWT_ISSUER } : {}), ...(config.JWT_AUDIENCE ? { aud: config.JWT_AUDIENCE } : {}) },
    verify: {
      algorithms: [jwtKeys.algorithm],
      requiredClaims,
      ...(config.JWT_ISSUER ? { allowedIss: config.JWT_ISSUER } : {}),
      ...(config.JWT_AUDIENCE ? { allowedAud: config.JWT_AUDIENCE } : {}),
      // fast-jwt takes milliseconds.
      clockTolerance: 5000
    }
  })
  app.decorate('jwtKeys', jwtKeys)
  app.decorateRequest('principal', null)

  async function fromJwt (request: FastifyRequest, header: string): Promise<Principal> {
    const match = BEARER.exec(header)
    if (!match) throw new AuthenticationError('Authorization header must be "Bearer <token>"')
    let claims: Record<string, unknown>
    try {
      claims = app.jwt.verify<Record<string, unknown>>(match[1] as string)
    } catch {
      throw new AuthenticationError('Invalid or expired token')
    }
    if (typeof claims.sub !== 'string' || claims.sub.length === 0 || claims.sub.length > 255) {
      throw new AuthenticationError('Token has no usable sub claim')
    }
    const str = (v: unknown): string | null => (typeof v === 'string' ? v : null)
    const user = await upsertUserFromClaims(app.db, {
      sub: claims.sub,
      email: str(claims.email),
      name: str(claims.name),
      given_name: str(claims.given_name),
      family_name: str(claims.family_name),
      email_verified: typeof claims.email_verified === 'boolean' ? claims.email_verified : null
    }, request.id)
    if (user.status === 'disabled') throw new AuthenticationError('User is disabled')
    const permissions = Array.isArray(claims.permissions) ? claims.permissions.filter((p): p is string => typeof p === 'string') : []
    return { kind: 'user', userId: user.id, sub: claims.sub, email: user.email, permissions }
  }

  async function fromApiKey (raw: string): Promise<Principal> {
    const check = await verifyApiKey(app.db, raw)
    if (!check.ok) throw new AuthenticationError(check.reason)
    await touchApiKey(app.db, check.key)
    return { kind: 'apiKey', keyId: check.key.id, org: check.org, permissions: check.key.permissions }
  }

  const failures: FailureCounter = app.redis
    ? new RedisFailureLimiter(app.redis, 60_000, (err) => app.log.warn({ err: err.message }, 'failed-auth counter unavailable'))
    : new FailureLimiter(60_000)

  // A failure past either ceiling is answered 429 instead of 401; a valid credential always
  // passes. `request.ip` is the client behind the load balancers TRUST_PROXY names.
  app.decorate('authenticate', async function authenticate (request: FastifyRequest, schemes: readonly string[]) {
    try {
      await authenticateOnce(request, schemes)
    } catch (err) {
      if (!(err instanceof AuthenticationError)) throw err
      const [perCredential, perAddress] = await Promise.all([
        failures.fail(`c:${request.ip}:${credentialFingerprint(request)}`, config.AUTH_FAILURE_MAX),
        failures.fail(`a:${request.ip}`, config.AUTH_FAILURE_ADDRESS_MAX)
      ])
      const wait = Math.max(perCredential, perAddress)
      if (wait > 0) throw new RateLimitError('Too many failed authentication attempts from this address', wait, 'auth_failures')
      throw err
    }
  })

  // GET /metrics: the operator's METRICS_TOKEN as a Bearer token, compared in constant time; with
  // no METRICS_TOKEN configured the metrics are off (404).
  const metricsDigest = config.METRICS_TOKEN === undefined ? null : Buffer.from(hashSecret(config.METRICS_TOKEN))
  function checkMetricsToken (header: string | undefined): void {
    if (metricsDigest === null) throw new NotFoundError('Metrics are off: set METRICS_TOKEN to serve them')
    const given = header?.startsWith('Bearer ') === true ? header.slice('Bearer '.length) : ''
    if (!timingSafeEqual(Buffer.from(hashSecret(given)), metricsDigest)) throw new AuthenticationError('Send the METRICS_TOKEN as a Bearer token')
  }

  async function authenticateOnce (request: FastifyRequest, schemes: readonly string[]): Promise<void> {
    const bearer = request.headers.authorization
    if (schemes.includes('MetricsAuth')) { checkMetricsToken(bearer); return }
    // Clients of the public seed send org API keys as `Authorization: Bearer <key>`.
    const bearerKey = bearer?.startsWith('Bearer iak_') ? bearer.slice('Bearer '.length) : undefined
    const key = apiKeyHeader(request) ?? bearerKey
    const keysAllowed = schemes.includes('OrgApiKeyAuth') || schemes.includes('ApiKeyAuth')
    if (key !== undefined) {
      if (!keysAllowed) throw new AuthenticationError('API keys are not accepted on this route; use a Bearer token')
      request.principal = await fromApiKey(key)
      return
    }
    if (bearer !== undefined && bearerKey === undefined && schemes.includes('BearerAuth')) {
      request.principal = await fromJwt(request, bearer)
      return
    }
    throw new AuthenticationError(keysAllowed ? 'Send a Bearer token or an API key' : 'Send a Bearer token')
  }
}, { name: 'auth', dependencies: ['db', 'redis'] })
