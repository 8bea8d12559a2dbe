// Reads and validates the environment once. A bad value stops start-up with one line naming it.
import { isIP } from 'node:net'
import { envSchema } from 'env-schema'

export interface Config {
  PORT: number
  HOST: string
  NODE_ENV: string
  LOG_LEVEL: string
  DATABASE_URL?: string
  DATA_DIR: string
  JWT_SECRET?: string
  JWT_PUBLIC_KEY?: string
  JWT_ISSUER?: string
  JWT_AUDIENCE?: string
  REDIS_URL?: string
  RATE_LIMIT_MAX: number
  RATE_LIMIT_WINDOW_MS: number
  AUTH_FAILURE_MAX: number
  AUTH_FAILURE_ADDRESS_MAX: number
  /** Fastify's `trustProxy`: false (off), a hop count, or the addresses/CIDRs of the load balancers. */
  TRUST_PROXY: false | number | string[]
  EXPORT_PAGE_SIZE: number
  EXPORT_MAX_SECONDS: number
  EXPORT_STALL_MS: number
  EXPORT_POOL_MAX: number
  INVITE_TTL_HOURS: number
  DB_POOL_MAX: number
  STATEMENT_TIMEOUT_MS: number
  DB_ACQUIRE_TIMEOUT_MS: number
  DB_NAMED_STATEMENTS: boolean
  SHUTDOWN_DELAY_MS: number
  SEED_DEMO: boolean
  METRICS_TOKEN?: string
  EVENTS_RETENTION_DAYS: number
  EVENTS_POLL_MS: number
  EVENTS_NATS_URL?: string
  WEBHOOK_TIMEOUT_MS: number
  /** Delays before each retry, in ms (parsed from e.g. `5s,5m,30m,2h,5h,10h,10h`). */
  WEBHOOK_RETRY_SCHEDULE: number[]
  WEBHOOK_DISABLE_AFTER_HOURS: number
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: boolean
}

export const configSchema = {
  type: 'object',
  required: [],
  properties: {
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
    HOST: { type: 'string', default: '127.0.0.1' },
    NODE_ENV: { type: 'string', enum: ['development', 'production', 'test'], default: 'development' },
    LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    DATABASE_URL: { type: 'string', pattern: '^postgres(ql)?://' },
    DATA_DIR: { type: 'string', minLength: 1, default: '.data' },
    JWT_SECRET: { type: 'string', minLength: 32 },
    JWT_PUBLIC_KEY: { type: 'string', pattern: '-----BEGIN PUBLIC KEY-----' },
    JWT_ISSUER: { type: 'string', minLength: 1 },
    JWT_AUDIENCE: { type: 'string', minLength: 1 },
    REDIS_URL: { type: 'string', pattern: '^rediss?://' },
    // Bounded as the spec's RateLimit-* headers say (at most a million per window of a day at most).
    RATE_LIMIT_MAX: { type: 'integer', minimum: 1, maximum: 1000000, default: 600 },
    RATE_LIMIT_WINDOW_MS: { type: 'integer', minimum: 100, maximum: 86400000, default: 60000 },
    // Failed authentications a minute per (address, credential), and per address alone.
    AUTH_FAILURE_MAX: { type: 'integer', minimum: 1, default: 30 },
    AUTH_FAILURE_ADDRESS_MAX: { type: 'integer', minimum: 1, default: 600 },
    TRUST_PROXY: { type: 'string' },
    EXPORT_PAGE_SIZE: { type: 'integer', minimum: 10, maximum: 50000, default: 1000 },
    EXPORT_MAX_SECONDS: { type: 'integer', minimum: 1, default: 900 },
    EXPORT_STALL_MS: { type: 'integer', minimum: 100, default: 30000 },
    EXPORT_POOL_MAX: { type: 'integer', minimum: 1, maximum: 100, default: 4 },
    INVITE_TTL_HOURS: { type: 'integer', minimum: 1, default: 168 },
    DB_POOL_MAX: { type: 'integer', minimum: 2, maximum: 500, default: 10 },
    STATEMENT_TIMEOUT_MS: { type: 'integer', minimum: 100, default: 30000 },
    DB_ACQUIRE_TIMEOUT_MS: { type: 'integer', minimum: 50, default: 5000 },
    DB_NAMED_STATEMENTS: { type: 'boolean', default: true },
    SHUTDOWN_DELAY_MS: { type: 'integer', minimum: 0, maximum: 120000, default: 0 },
    SEED_DEMO: { type: 'boolean', default: true },
    METRICS_TOKEN: { type: 'string', minLength: 16 },
    EVENTS_RETENTION_DAYS: { type: 'integer', minimum: 1, maximum: 3650, default: 30 },
    // How often an idle instance looks for events to deliver or publish.
    EVENTS_POLL_MS: { type: 'integer', minimum: 10, maximum: 60000, default: 200 },
    EVENTS_NATS_URL: { type: 'string', pattern: '^(nats|tls)://' },
    WEBHOOK_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 60000, default: 10000 },
    // Standard Webhooks' suggested schedule: about 27 hours over 7 retries.
    WEBHOOK_RETRY_SCHEDULE: { type: 'string', pattern: '^\\d+(ms|s|m|h)(,\\d+(ms|s|m|h)){0,19}$', default: '5s,5m,30m,2h,5h,10h,10h' },
    WEBHOOK_DISABLE_AFTER_HOURS: { type: 'integer', minimum: 1, default: 72 },
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: { type: 'boolean', default: false }
  }
} as const

export class ConfigError extends Error {}

const UNIT_MS = { ms: 1, s: 1000, m: 60000, h: 3600000 } as const

/** `5s,5m,2h` as milliseconds (the schema's pattern has checked the shape). */
function parseDurations (list: string): number[] {
  return list.split(',').map((d) => {
    const [, n, unit] = /^(\d+)(ms|s|m|h)$/.exec(d) as RegExpExecArray
    return Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS]
  })
}

/**
 * TRUST_PROXY: unset or `false` (request.ip is the socket's peer), a hop count (`1`: one load
 * balancer in front), or a comma-separated list of addresses and CIDRs of the trusted proxies.
 * `true` (trust every hop, so any client could name its own address) is refused.
 */
export function parseTrustProxy (raw: string | undefined): false | number | string[] {
  if (raw === undefined || raw === 'false') return false
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw)
    if (hops >= 1 && hops <= 32) return hops
  } else {
    const entries = raw.split(',').map((e) => e.trim())
    if (entries.every(isAddressOrCidr)) return entries
  }
  throw new ConfigError('invalid configuration: TRUST_PROXY must be false, a hop count (1-32) or a comma-separated list of addresses/CIDRs')
}

function isAddressOrCidr (entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/')
  const version = isIP(address)
  if (version === 0 || rest.length > 0) return false
  if (bits === undefined) return true
  return /^\d+$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128)
}

/** Validates `env` (defaults applied); throws ConfigError with one line naming the variable. */
export function loadConfig (env: Record<string, string | undefined> = process.env, dotenv = false): Config {
  // An empty variable means unset, as in most deployment tools.
  const data = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  let config: Config
  try {
    const raw = envSchema<Omit<Config, 'WEBHOOK_RETRY_SCHEDULE'> & { WEBHOOK_RETRY_SCHEDULE: string }>({ schema: configSchema, data, dotenv, env: false })
    config = { ...raw, WEBHOOK_RETRY_SCHEDULE: parseDurations(raw.WEBHOOK_RETRY_SCHEDULE) }
  } catch (err) {
    const message = (err as Error).message.replace(/^env\/?/, '').split(',')[0]
    throw new ConfigError(`invalid configuration: ${message}`)
  }
  config.TRUST_PROXY = parseTrustProxy(data.TRUST_PROXY)
  if (config.JWT_SECRET && config.JWT_PUBLIC_KEY) {
    throw new ConfigError('invalid configuration: set JWT_SECRET or JWT_PUBLIC_KEY, not both')
  }
  if (config.NODE_ENV === 'production' && !config.JWT_SECRET && !config.JWT_PUBLIC_KEY) {
    throw new ConfigError('invalid configuration: JWT_SECRET or JWT_PUBLIC_KEY is required when NODE_ENV=production')
  }
  return config
}
