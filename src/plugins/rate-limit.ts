// Per-credential rate limits (@fastify/rate-limit): counted after authentication, keyed by user
// or API key (the client address when anonymous); shared across instances through Redis when
// REDIS_URL is set, in memory otherwise.
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import { RateLimitError } from '../lib/errors.ts'
import type { Config } from '../config.ts'

// Probes are never limited: with Redis the count is shared by every instance, so a load
// balancer probing many instances from one address would otherwise get 429s and pull them all.
const PROBES = new Set(['/healthz', '/readyz'])

export function credentialKey (request: FastifyRequest): string {
  const p = request.principal
  if (p === null) return `ip:${request.ip}`
  return p.kind === 'user' ? `user:${p.userId}` : `key:${p.keyId}`
}

export default fp(async function rateLimits (app, opts: { config: Config }) {
  const { config } = opts
  const redis = app.redis
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: config.RATE_LIMIT_MAX,
    timeWindow: config.RATE_LIMIT_WINDOW_MS,
    nameSpace: 'orgroster-rl:',
    ...(redis ? { redis } : {}),
    // A Redis outage must not take the API down with it.
    skipOnError: true,
    enableDraftSpec: true,
    keyGenerator: credentialKey,
    allowList: (request) => PROBES.has(request.routeOptions.url ?? ''),
    errorResponseBuilder: (_request, context) =>
      new RateLimitError(`Rate limit of ${context.max} requests per ${context.after} exceeded`, context.ttl, 'requests')
  })
}, { name: 'rate-limit', dependencies: ['auth', 'redis'] })
