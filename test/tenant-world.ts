// Fixtures for the cross-tenant tests: a target org with one of everything a path can name (an
// active member in a group, an invited person, a custom role, an API key, an application), a
// second org with an all-permission key, and a snapshot of every row the target org owns.
import { randomUUID } from 'node:crypto'
import { insertApiKey } from '../src/db/api-keys.ts'
import { bearer, ownerWithOrg, randomSlug, type TestApp } from './helper.ts'

/** What a request names to reach its org (or application); a nonexistent one has the same shape. */
export interface Scope { orgSlug: string, orgId: string, applicationId: string }

export interface World extends Scope {
  ownerSub: string
  ownerToken: string
  memberId: string
  /** The active member's token (role `member`). */
  memberToken: string
  invitedId: string
  groupSlug: string
  roleSlug: string
  keyId: string
  webhookId: string
  deliveryId: string
  other: { token: string, key: string }
}

/** Every org permission the spec names (DESIGN.md section 4). */
export const ORG_PERMISSIONS = [
  'orgs:read', 'orgs:manage', 'orgs:delete', 'orgs:members:read', 'orgs:members:manage',
  'orgs:roles:manage', 'orgs:apikeys:manage', 'orgs:invites:manage', 'orgs:webhooks:manage', 'orgs:events:read'
]
export const PLATFORM_PERMISSIONS = ['user:read', 'org:read', 'client:read', 'role:read', 'audit:read', 'admin:write']

export function missingScope (): Scope {
  return { orgSlug: randomSlug(), orgId: randomUUID(), applicationId: randomUUID() }
}

/** The owner of the world's org, signed in with these platform permissions too. */
export function ownerWith (ctx: TestApp, w: World, permissions: string[]): Record<string, string> {
  return bearer(ctx.token({ sub: w.ownerSub, email: `${w.ownerSub}@example.com`, permissions }))
}

async function created (ctx: TestApp, url: string, headers: Record<string, string>, payload: object): Promise<any> {
  const res = await ctx.app.inject({ method: 'POST', url, headers, payload })
  if (res.statusCode !== 201) throw new Error(`POST ${url} failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

export async function buildWorld (ctx: TestApp): Promise<World> {
  const owner = await ownerWithOrg(ctx)
  const other = await ownerWithOrg(ctx)
  const as = bearer(owner.token)
  const base = `/v2/orgs/${owner.slug}`
  const memberSub = `member-${randomUUID()}`
  const memberEmail = `${memberSub}@example.com`
  // Signed in once, so adding the email makes an active member rather than an invite.
  const memberToken = ctx.token({ sub: memberSub, email: memberEmail })
  await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers: bearer(memberToken) })
  const groupSlug = randomSlug('group')
  const invitedEmail = `invited-${randomUUID()}@example.com`
  const added: Array<{ email: string, userId: string, status: string }> = await created(ctx, `${base}/members`, as,
    { users: [{ email: memberEmail, groups: [groupSlug] }, { email: invitedEmail }] })
  const member = added.find((m) => m.email === memberEmail)
  const invited = added.find((m) => m.email === invitedEmail)
  if (member?.status !== 'active' || invited?.status !== 'invited') throw new Error(`unexpected members ${JSON.stringify(added)}`)
  const roleSlug = randomSlug('role')
  await created(ctx, `${base}/roles`, as, { name: 'Custom', slug: roleSlug, permissions: ['orgs:read'] })
  const key = await created(ctx, `${base}/api-keys`, as, { slug: randomSlug('key'), name: 'Fixture', permissions: ['orgs:read'] })
  const application = await created(ctx, '/api/admin/applications', bearer(ctx.token({ permissions: ['admin:write'] })),
    { slug: randomSlug('app'), name: 'Fixture application' })
  // An endpoint that never resolves (.invalid), with two test deliveries (a second page).
  const webhook = await created(ctx, `${base}/webhooks`, as, { url: 'https://hooks.invalid/orgroster' })
  const deliveries: Array<{ id: string }> = []
  for (let i = 0; i < 2; i++) deliveries.push((await ctx.app.inject({ method: 'POST', url: `${base}/webhooks/${webhook.id}/test`, headers: as })).json())
  const otherKey = await insertApiKey(ctx.app.db, { orgId: other.orgId, orgSlug: other.slug, slug: 'all', name: 'All', permissions: ['*'] })
  return {
    orgSlug: owner.slug,
    orgId: owner.orgId,
    applicationId: application.id,
    ownerSub: owner.sub,
    ownerToken: owner.token,
    memberId: member.userId,
    memberToken,
    invitedId: invited.userId,
    groupSlug,
    roleSlug,
    keyId: key.id,
    webhookId: webhook.id,
    deliveryId: deliveries[0]!.id,
    other: { token: other.token, key: otherKey.raw }
  }
}

/** A key of the world's org holding these permissions (the raw key). */
export async function orgKey (ctx: TestApp, w: World, permissions: string[]): Promise<string> {
  const key = await created(ctx, `/v2/orgs/${w.orgSlug}/api-keys`, bearer(w.ownerToken), { slug: randomSlug('key'), name: 'Scoped', permissions })
  return key.apiKey
}

const BY_ORG = ['org_memberships', 'org_roles', 'org_groups', 'org_group_members', 'org_api_keys', 'oauth_clients', 'audit_events', 'org_events', 'webhooks'] as const

/**
 * Every row the org owns, and every application and application role, as sorted JSON lines.
 * An API key's `lastUsedAt` is left out: a denied call with the org's own key may touch it; so
 * is a webhook's delivery bookkeeping, which the delivery worker moves on in the background.
 */
export async function snapshot (ctx: TestApp, orgId: string): Promise<Record<string, string[]>> {
  const db = ctx.app.db
  const lines = (rows: object[]): string[] => rows.map((r) => JSON.stringify({ ...r, last_used_at: undefined, dispatched_seq: undefined, failing_since: undefined })).sort()
  const out: Record<string, string[]> = {
    organizations: lines(await db.selectFrom('organizations').selectAll().where('id', '=', orgId).execute()),
    applications: lines(await db.selectFrom('applications').selectAll().execute()),
    application_roles: lines(await db.selectFrom('application_roles').selectAll().execute())
  }
  for (const table of BY_ORG) out[table] = lines(await db.selectFrom(table).selectAll().where('org_id', '=', orgId).execute())
  return out
}
