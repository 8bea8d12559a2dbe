// Org API keys: `iak_{orgSlug}_{prefix}_{secret}`. The prefix is public and indexed; only a
// SHA-256 of the 256-bit random secret is stored (a slow hash adds nothing at that entropy).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Database, OrgApiKey, Organization } from './schema.ts'
import { preparedStatement } from './prepared.ts'

const KEY_PATTERN = /^iak_([a-z0-9][a-z0-9-]{0,62})_([0-9a-f]{16})_([0-9a-f]{64})$/
// Compared against when the prefix is unknown, so both failures take the same time.
const DUMMY_HASH = createHash('sha256').update('orgroster-dummy').digest('hex')

export function hashSecret (secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

export function mintApiKey (orgSlug: string): { raw: string, prefix: string, secretHash: string } {
  const prefix = randomBytes(8).toString('hex')
  const secret = randomBytes(32).toString('hex')
  return { raw: `iak_${orgSlug}_${prefix}_${secret}`, prefix, secretHash: hashSecret(secret) }
}

function sameHash (a: string, b: string): boolean {
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'))
}

export type KeyCheck =
  | { ok: true, key: OrgApiKey, org: Organization }
  | { ok: false, reason: string }

// Every authenticated API-key request runs this: prepared, and the key's org comes with it.
const keyByPrefix = preparedStatement((db, prefix: string) => db.selectFrom('org_api_keys as k')
  .innerJoin('organizations as o', 'o.id', 'k.org_id')
  .select(['k.id', 'k.org_id', 'k.slug', 'k.name', 'k.prefix', 'k.secret_hash', 'k.permissions', 'k.scopes', 'k.owner_type', 'k.owner_id',
    'k.expires_at', 'k.disabled', 'k.last_used_at', 'k.created_by', 'k.created_at', 'k.updated_at'])
  .select(['o.slug as org_slug', 'o.name as org_name', 'o.description as org_description', 'o.status as org_status',
    'o.default_role as org_default_role', 'o.created_by as org_created_by', 'o.created_at as org_created_at', 'o.updated_at as org_updated_at'])
  .where('k.prefix', '=', prefix))

/** Looks a raw key up by prefix and checks secret, org, revocation and expiry. */
export async function verifyApiKey (db: Kysely<Database>, raw: string): Promise<KeyCheck> {
  const match = KEY_PATTERN.exec(raw)
  if (!match) return { ok: false, reason: 'Malformed API key' }
  const [, orgSlug, prefix, secret] = match as unknown as [string, string, string, string]
  const [row] = await keyByPrefix.execute(db, prefix)
  const hashOk = sameHash(hashSecret(secret), row?.secret_hash ?? DUMMY_HASH)
  if (!row || !hashOk || row.org_slug !== orgSlug) return { ok: false, reason: 'Invalid API key' }
  if (row.disabled) return { ok: false, reason: 'API key is revoked' }
  if (row.expires_at !== null && Date.parse(row.expires_at) <= Date.now()) return { ok: false, reason: 'API key has expired' }
  const {
    org_slug: slug, org_name: name, org_description: description, org_status: status, org_default_role: defaultRole,
    org_created_by: createdBy, org_created_at: createdAt, org_updated_at: updatedAt, ...key
  } = row
  const org = { id: key.org_id, slug, name, description, status, default_role: defaultRole, created_by: createdBy, created_at: createdAt, updated_at: updatedAt }
  return { ok: true, key, org }
}

/** Keeps lastUsedAt within a minute without writing on every request. */
export async function touchApiKey (db: Kysely<Database>, key: OrgApiKey): Promise<void> {
  if (key.last_used_at !== null && Date.now() - Date.parse(key.last_used_at) < 60_000) return
  await db.updateTable('org_api_keys').set({ last_used_at: sql<string>`now()` as any })
    .where('id', '=', key.id)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', sql<string>`now() - interval '1 minute'` as any)]))
    .execute()
}

export interface NewApiKey {
  orgId: string
  orgSlug: string
  slug: string
  name: string
  permissions: string[]
  scopes?: string[]
  ownerType?: string | null
  ownerId?: string | null
  expiresAt?: string | null
  createdBy?: string | null
}

/** Stores a new key; the raw key is returned here and never again. */
export async function insertApiKey (db: Kysely<Database>, input: NewApiKey): Promise<{ key: OrgApiKey, raw: string }> {
  const minted = mintApiKey(input.orgSlug)
  const key = await db.insertInto('org_api_keys').values({
    org_id: input.orgId,
    slug: input.slug,
    name: input.name,
    prefix: minted.prefix,
    secret_hash: minted.secretHash,
    permissions: input.permissions,
    scopes: input.scopes ?? [],
    owner_type: input.ownerType ?? null,
    owner_id: input.ownerId ?? null,
    expires_at: input.expiresAt ?? null,
    created_by: input.createdBy ?? null
  }).returningAll().executeTakeFirstOrThrow()
  return { key, raw: minted.raw }
}
