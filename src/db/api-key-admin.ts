// Managing org API keys: list, get, update, delete, rotate. Creation is insertApiKey. A key is
// changed only by a caller whose held set covers its permissions, checked on the row locked for
// the change (so rotation never hands a broader key's secret to a narrower caller).
import { sql, type Kysely } from 'kysely'
import type { Database, OrgApiKey } from './schema.ts'
import { recordAudit, type AuditActor } from './audit.ts'
import { emitEvents } from './events.ts'
import { toApiKey } from '../lib/representations.ts'
import { NotFoundError } from '../lib/errors.ts'
import { assertCovered } from '../lib/privilege.ts'
import { mintApiKey } from './api-keys.ts'
import { cutPage, pageQuery, type Page, type PageRequest } from './keyset.ts'

export interface ApiKeyFilters { ownerType?: string, ownerId?: string }

function keysMatching (db: Kysely<Database>, orgId: string, f: ApiKeyFilters) {
  let query = db.selectFrom('org_api_keys').where('org_id', '=', orgId)
  if (f.ownerType !== undefined) query = query.where('owner_type', '=', f.ownerType)
  if (f.ownerId !== undefined) query = query.where('owner_id', '=', f.ownerId)
  return query
}

export async function listApiKeysPage (db: Kysely<Database>, orgId: string, filters: ApiKeyFilters, request: PageRequest): Promise<Page<OrgApiKey>> {
  const rows = await pageQuery(keysMatching(db, orgId, filters).selectAll(), { createdAt: 'created_at', id: 'id' }, request).execute()
  return cutPage(rows, request, (k) => ({ createdAt: k.created_at, id: k.id }))
}

export async function countApiKeys (db: Kysely<Database>, orgId: string, filters: ApiKeyFilters): Promise<number> {
  const row = await keysMatching(db, orgId, filters).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  return Number(row.n)
}

export async function getApiKey (db: Kysely<Database>, orgId: string, keyId: string): Promise<OrgApiKey> {
  const key = await db.selectFrom('org_api_keys').selectAll().where('org_id', '=', orgId).where('id', '=', keyId).executeTakeFirst()
  if (!key) throw new NotFoundError('API key not found')
  return key
}

/** Locks the key and throws the 403 unless `held` covers its permissions. */
async function lockCoveredKey (trx: Kysely<Database>, orgId: string, keyId: string, held: readonly string[]): Promise<void> {
  const key = await trx.selectFrom('org_api_keys').select(['slug', 'permissions']).where('org_id', '=', orgId).where('id', '=', keyId).forUpdate().executeTakeFirst()
  if (!key) throw new NotFoundError('API key not found')
  assertCovered(held, key.permissions, `API key ${key.slug}`)
}

export interface ApiKeyPatch {
  name?: string
  permissions?: string[]
  scopes?: string[]
  ownerType?: string
  ownerId?: string
  expiresAt?: string | null
  disabled?: boolean
}

export async function updateApiKey (db: Kysely<Database>, orgId: string, held: readonly string[], keyId: string, patch: ApiKeyPatch, actor: AuditActor): Promise<OrgApiKey> {
  assertCovered(held, patch.permissions ?? [], 'The new permission set')
  return await db.transaction().execute(async (trx) => {
    await lockCoveredKey(trx, orgId, keyId, held)
    const key = await trx.updateTable('org_api_keys').set({
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.permissions !== undefined ? { permissions: patch.permissions } : {}),
      ...(patch.scopes !== undefined ? { scopes: patch.scopes } : {}),
      ...(patch.ownerType !== undefined ? { owner_type: patch.ownerType } : {}),
      ...(patch.ownerId !== undefined ? { owner_id: patch.ownerId } : {}),
      ...(patch.expiresAt !== undefined ? { expires_at: patch.expiresAt } : {}),
      ...(patch.disabled !== undefined ? { disabled: patch.disabled } : {}),
      updated_at: sql<string>`now()` as any
    }).where('org_id', '=', orgId).where('id', '=', keyId).returningAll().executeTakeFirst()
    if (!key) throw new NotFoundError('API key not found')
    await recordAudit(trx, actor, { orgId, action: patch.disabled === true ? 'apikey.revoked' : 'apikey.updated', targetType: 'apikey', targetId: keyId, metadata: { fields: Object.keys(patch) } })
    await emitEvents(trx, actor, orgId, [{ type: patch.disabled === true ? 'api_key.revoked' : 'api_key.updated', data: toApiKey(key) }])
    return key
  })
}

export async function deleteApiKey (db: Kysely<Database>, orgId: string, held: readonly string[], keyId: string, actor: AuditActor): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await lockCoveredKey(trx, orgId, keyId, held)
    const deleted = await trx.deleteFrom('org_api_keys').where('org_id', '=', orgId).where('id', '=', keyId).returningAll().executeTakeFirst()
    if (!deleted) throw new NotFoundError('API key not found')
    await recordAudit(trx, actor, { orgId, action: 'apikey.deleted', targetType: 'apikey', targetId: keyId })
    await emitEvents(trx, actor, orgId, [{ type: 'api_key.deleted', data: toApiKey(deleted) }])
  })
}

/** A new prefix and secret for the key; the old raw key stops working at once. */
export async function rotateApiKey (db: Kysely<Database>, orgId: string, orgSlug: string, held: readonly string[], keyId: string, expiresAt: string | undefined, actor: AuditActor): Promise<{ key: OrgApiKey, raw: string }> {
  return await db.transaction().execute(async (trx) => {
    await lockCoveredKey(trx, orgId, keyId, held)
    const minted = mintApiKey(orgSlug)
    const key = await trx.updateTable('org_api_keys').set({
      prefix: minted.prefix,
      secret_hash: minted.secretHash,
      ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}),
      updated_at: sql<string>`now()` as any
    }).where('org_id', '=', orgId).where('id', '=', keyId).returningAll().executeTakeFirst()
    if (!key) throw new NotFoundError('API key not found')
    await recordAudit(trx, actor, { orgId, action: 'apikey.rotated', targetType: 'apikey', targetId: keyId })
    await emitEvents(trx, actor, { id: orgId, slug: orgSlug }, [{ type: 'api_key.rotated', data: toApiKey(key) }])
    return { key, raw: minted.raw }
  })
}
