// /v2/orgs/{orgSlug}/api-keys: org API keys. A key never carries a permission its creator lacks,
// and only a caller holding every permission of a key may change, rotate or delete it.
import { insertApiKey } from '../../db/api-keys.ts'
import { countApiKeys, deleteApiKey, getApiKey, listApiKeysPage, rotateApiKey, updateApiKey } from '../../db/api-key-admin.ts'
import { countsTotal, pageRequest, resultsEnvelope } from '../../db/keyset.ts'
import { recordAudit } from '../../db/audit.ts'
import { emitEvents } from '../../db/events.ts'
import { ConflictError, ValidationError } from '../../lib/errors.ts'
import { assertCovered } from '../../lib/privilege.ts'
import { actorUserId } from '../../lib/principal.ts'
import { toApiKey } from '../../lib/representations.ts'
import { auditActor, principalOf, requireOrg } from '../access.ts'
import type { Handlers } from '../operations.ts'

const MANAGE = 'orgs:apikeys:manage'

function checkFuture (expiresAt: string | null | undefined, field: string): void {
  if (expiresAt !== undefined && expiresAt !== null && Date.parse(expiresAt) <= Date.now()) {
    throw new ValidationError(`${field} must be in the future`, [{ field, message: 'must be in the future' }])
  }
}

export const apiKeyHandlers = {
  async createOrgApiKey (request, reply) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, MANAGE)
    const body = request.body
    assertCovered(permissions, body.permissions ?? [], 'The new permission set')
    checkFuture(body.expiresAt, 'body/expiresAt')
    const created = await this.db.transaction().execute(async (trx) => {
      const taken = await trx.selectFrom('org_api_keys').select('id').where('org_id', '=', org.id).where('slug', '=', body.slug).executeTakeFirst()
      if (taken) throw new ConflictError(`API key ${body.slug} already exists`)
      const result = await insertApiKey(trx, {
        orgId: org.id,
        orgSlug: org.slug,
        slug: body.slug,
        name: body.name,
        permissions: body.permissions ?? [],
        scopes: body.scopes,
        ownerType: body.ownerType,
        ownerId: body.ownerId,
        expiresAt: body.expiresAt,
        createdBy: actorUserId(principalOf(request))
      })
      await recordAudit(trx, auditActor(request), { orgId: org.id, action: 'apikey.created', targetType: 'apikey', targetId: result.key.id, metadata: { slug: body.slug, permissions: body.permissions ?? [] } })
      await emitEvents(trx, auditActor(request), org, [{ type: 'api_key.created', data: toApiKey(result.key) }])
      return result
    })
    reply.code(201)
    return { ...toApiKey(created.key), apiKey: created.raw }
  },

  async listOrgApiKeys (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, MANAGE)
    const { ownerType, ownerId } = request.query
    const cursor = { kind: 'token', scope: `api-keys:${org.id}` } as const
    const paging = await pageRequest(cursor, request.query, 20)
    const [page, total] = await Promise.all([
      listApiKeysPage(this.db, org.id, { ownerType, ownerId }, paging),
      countsTotal(paging) ? countApiKeys(this.db, org.id, { ownerType, ownerId }) : undefined
    ])
    return resultsEnvelope(cursor, paging, page, toApiKey, total)
  },

  async getOrgApiKey (request) {
    const { org } = await requireOrg(request, request.params.orgSlug, MANAGE)
    return toApiKey(await getApiKey(this.db, org.id, request.params.keyId))
  },

  async updateOrgApiKey (request) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, MANAGE)
    checkFuture(request.body.expiresAt, 'body/expiresAt')
    return toApiKey(await updateApiKey(this.db, org.id, permissions, request.params.keyId, request.body, auditActor(request)))
  },

  async deleteOrgApiKey (request) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, MANAGE)
    await deleteApiKey(this.db, org.id, permissions, request.params.keyId, auditActor(request))
    return { success: true }
  },

  async rotateOrgApiKey (request) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, MANAGE)
    const expiresAt = request.body?.expiresAt
    checkFuture(expiresAt, 'body/expiresAt')
    const { key, raw } = await rotateApiKey(this.db, org.id, org.slug, permissions, request.params.keyId, expiresAt, auditActor(request))
    return { ...toApiKey(key), apiKey: raw }
  }
} satisfies Partial<Handlers>
