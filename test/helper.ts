// Test harness: every test file gets its own database (a fresh PostgreSQL database created
// and dropped around it when TEST_DATABASE_URL is set, an in-memory PGlite otherwise) and
// builds the real app on it.
import { randomBytes, randomUUID } from 'node:crypto'
import pg from 'pg'
import tap from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../src/app.ts'
import { loadConfig, type Config } from '../src/config.ts'
import { resolveJwtKeys } from '../src/lib/jwt-keys.ts'
import { mintToken, type TokenClaims } from '../src/lib/dev-token.ts'
import { checkContract } from './contract.ts'

export const JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789'
export const onPostgres = Boolean(process.env.TEST_DATABASE_URL)
export const databaseName = onPostgres ? 'postgres' : 'embedded'

interface Teardown { teardown: (fn: () => unknown) => void }

function withDatabase (base: string, name: string): string {
  const url = new URL(base)
  url.pathname = `/${name}`
  return url.toString()
}

/** A fresh PostgreSQL database for this test file, dropped at teardown. */
export async function createTestDatabase (t: Teardown): Promise<string> {
  const base = process.env.TEST_DATABASE_URL as string
  const name = `orgroster_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  t.teardown(async () => {
    const c = new pg.Client({ connectionString: base })
    await c.connect()
    await c.query(`drop database if exists ${name} with (force)`)
    await c.end()
  })
  return withDatabase(base, name)
}

export function testConfig (env: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    JWT_SECRET,
    DATA_DIR: 'memory://',
    SEED_DEMO: 'false',
    RATE_LIMIT_MAX: '100000',
    AUTH_FAILURE_MAX: '1000',
    ...env
  })
}

export interface TestApp {
  app: FastifyInstance
  config: Config
  databaseUrl?: string
  /** A signed token for these claims (a new random user when none are given). */
  token: (claims?: Partial<TokenClaims>) => string
}

let fileDatabase: Promise<string> | undefined

/** The app on this file's database; several calls in one file share the PostgreSQL database. */
export async function buildTestApp (t: Teardown, env: Record<string, string> = {}): Promise<TestApp> {
  let databaseUrl: string | undefined = env.DATABASE_URL
  if (onPostgres && databaseUrl === undefined) {
    fileDatabase ??= createTestDatabase(tap)
    databaseUrl = await fileDatabase
  }
  const config = testConfig({ ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}), ...env })
  const app = await buildApp(config)
  checkContract(app)
  t.teardown(() => app.close())
  await app.ready()
  const keys = resolveJwtKeys(config)
  return {
    app,
    config,
    databaseUrl,
    token: (claims = {}) => mintToken(keys, config, { sub: `user-${randomUUID()}`, ...claims })
  }
}

export function randomSlug (prefix = 'org'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`
}

export function bearer (token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}

/** A new user who owns a new org with a random slug. */
export async function ownerWithOrg (ctx: TestApp, claims: Partial<TokenClaims> = {}): Promise<{ token: string, slug: string, orgId: string, sub: string }> {
  const sub = `owner-${randomUUID()}`
  const token = ctx.token({ sub, email: `${sub}@example.com`, ...claims })
  const slug = randomSlug()
  const res = await ctx.app.inject({ method: 'POST', url: '/v2/orgs', headers: bearer(token), payload: { name: `Org ${slug}`, slug } })
  if (res.statusCode !== 201) throw new Error(`creating org failed: ${res.statusCode} ${res.body}`)
  return { token, slug, orgId: res.json().id, sub }
}
