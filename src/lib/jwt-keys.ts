// Which key and algorithm verify JWTs: HS256 for JWT_SECRET, RS256/ES256 for JWT_PUBLIC_KEY,
// and outside production a development secret kept under DATA_DIR so printed tokens survive
// restarts.
import { createPublicKey, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../config.ts'

export interface JwtKeys {
  algorithm: 'HS256' | 'RS256' | 'ES256'
  /** Verifies tokens. */
  verifyKey: string
  /** Signs tokens: only with a shared secret (development tokens, tests). */
  signKey?: string
  development: boolean
}

export function resolveJwtKeys (config: Config): JwtKeys {
  if (config.JWT_PUBLIC_KEY) {
    const type = createPublicKey(config.JWT_PUBLIC_KEY).asymmetricKeyType
    if (type !== 'rsa' && type !== 'ec') throw new Error('JWT_PUBLIC_KEY must be an RSA or EC public key')
    return { algorithm: type === 'rsa' ? 'RS256' : 'ES256', verifyKey: config.JWT_PUBLIC_KEY, development: false }
  }
  if (config.JWT_SECRET) return { algorithm: 'HS256', verifyKey: config.JWT_SECRET, signKey: config.JWT_SECRET, development: false }
  const secret = developmentSecret(config.DATA_DIR)
  return { algorithm: 'HS256', verifyKey: secret, signKey: secret, development: true }
}

function developmentSecret (dataDir: string): string {
  if (dataDir === 'memory://') return randomBytes(32).toString('hex')
  const file = join(dataDir, 'dev-jwt-secret')
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  mkdirSync(dataDir, { recursive: true })
  const secret = randomBytes(32).toString('hex')
  writeFileSync(file, secret, { mode: 0o600 })
  return secret
}
