// OAuth clients of an organization. The secret is minted here, returned once, and only its
// SHA-256 is stored (256 random bits: a slow hash would add nothing). No query here ever
// selects `secret_hash` except by name where it is written.
import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database } from './schema.ts'
import { hashSecret } from './api-keys.ts'
import { cutPage, pageQuery, type Page, type PageRequest } from './keyset.ts'
import { recordAudit, type AuditActor } from './audit.ts'

/** Every column but the secret's hash. */
export const CLIENT_COLUMNS = [
  'id', 'org_id', 'application_id', 'client_id', 'name', 'redirect_uris', 'grant_types', 'scopes',
  'created_by', 'created_at', 'updated_at'
] as const

export interface OauthClientRow {
  id: string
  org_id: string
  application_id: string | null
  client_id: string
  name: string
  redirect_uris: string[]
  grant_types: string[]
  scopes: string[]
  created_by: string | null
  created_at: string
  updated_at: string
}

export interface NewClient {
  orgId: string
  applicationId: string | null
  name: string
  redirectUris: string[]
  grantTypes: string[]
  scopes: string[]
}

export async function createClient (db: Kysely<Database>, input: NewClient, createdBy: string, actor: AuditActor): Promise<{ client: OauthClientRow, secret: string }> {
  const clientId = `oc_${randomBytes(16).toString('hex')}`
  const secret = `ocs_${randomBytes(32).toString('hex')}`
  const client = await db.transaction().execute(async (trx) => {
    const row = await trx.insertInto('oauth_clients').values({
      org_id: input.orgId,
      application_id: input.applicationId,
      client_id: clientId,
      secret_hash: hashSecret(secret),
      name: input.name,
      redirect_uris: input.redirectUris,
      grant_types: input.grantTypes,
      scopes: input.scopes,
      created_by: createdBy
    }).returning(CLIENT_COLUMNS).executeTakeFirstOrThrow()
    await recordAudit(trx, actor, {
      orgId: input.orgId,
      action: 'client.created',
      targetType: 'oauth_client',
      targetId: row.id,
      metadata: { clientId, name: row.name, applicationId: row.application_id, redirectUris: row.redirect_uris, grantTypes: row.grant_types }
    })
    return row
  })
  return { client, secret }
}

export async function listClientsPage (db: Kysely<Database>, orgId: string, request: PageRequest): Promise<Page<OauthClientRow>> {
  const query = db.selectFrom('oauth_clients').select(CLIENT_COLUMNS).where('org_id', '=', orgId)
  const rows = await pageQuery(query, { createdAt: 'created_at', id: 'id' }, request).execute()
  return cutPage(rows, request, (r) => ({ createdAt: r.created_at, id: r.id }))
}
