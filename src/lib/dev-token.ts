// Development tokens: signed with the shared secret, never in production.
import { createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config.ts'
import type { JwtKeys } from './jwt-keys.ts'

export const PLATFORM_PERMISSIONS = ['user:read', 'org:read', 'client:read', 'role:read', 'audit:read', 'admin:write']

export const DEV_ADMIN = { sub: 'dev-admin', email: 'admin@acme.test', name: 'Ada Admin', given_name: 'Ada', family_name: 'Admin' }

export interface TokenClaims {
  sub: string
  email?: string
  name?: string
  given_name?: string
  family_name?: string
  email_verified?: boolean
  permissions?: string[]
}

export function mintToken (keys: JwtKeys, config: Pick<Config, 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'NODE_ENV'>, claims: TokenClaims, expiresInSeconds = 12 * 3600): string {
  if (config.NODE_ENV === 'production') throw new Error('development tokens are not minted in production')
  if (!keys.signKey) throw new Error('tokens can only be minted with a shared secret (JWT_SECRET or the development secret)')
  const sign = createSigner({
    key: keys.signKey,
    algorithm: keys.algorithm,
    expiresIn: expiresInSeconds * 1000,
    ...(config.JWT_ISSUER ? { iss: config.JWT_ISSUER } : {}),
    ...(config.JWT_AUDIENCE ? { aud: config.JWT_AUDIENCE } : {})
  })
  return sign({ email_verified: true, ...claims })
}

/** What `npm start` prints outside production: a development token and a first request to try. */
export function developmentBanner (app: FastifyInstance, address: string, config: Config): string {
  const token = mintToken(app.jwtKeys, config, { ...DEV_ADMIN, permissions: PLATFORM_PERMISSIONS })
  const demo = config.SEED_DEMO
  return [
    '',
    demo
      ? 'Development admin token (owner of the demo org "acme", all platform permissions; valid 12 hours):'
      : 'Development admin token (all platform permissions; valid 12 hours; SEED_DEMO=false, so no demo org is seeded):',
    '',
    `  ${token}`,
    '',
    'Try it:',
    '',
    demo
      ? `  curl -H "Authorization: Bearer ${token}" ${address}/v2/orgs/acme`
      : `  curl -H "Authorization: Bearer ${token}" -H "Content-Type: application/json" -d '{"name":"My org"}' ${address}/v2/orgs`,
    '',
    `Or open ${address}/docs, press "Authorize" and paste the token under BearerAuth.`,
    ''
  ].join('\n')
}
