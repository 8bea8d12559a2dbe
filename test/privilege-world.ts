// Fixtures for the privilege tests (issue 11): an org with one actor of a given kind per manage
// permission, targets (members, invitations, roles, API keys, webhooks) carrying any permission set made
// straight in the database, and a read-back of everything the org owns.
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { insertApiKey } from '../src/db/api-keys.ts'
import { BUILT_IN_ROLES } from '../src/lib/permissions.ts'
import { bearer, ownerWithOrg, randomSlug, type TestApp } from './helper.ts'

export const ACTOR_KINDS = ['owner', 'admin', 'custom role', 'API key', 'plain member'] as const
export type ActorKind = (typeof ACTOR_KINDS)[number]

export const MANAGE_PERMISSIONS = ['orgs:members:manage', 'orgs:invites:manage', 'orgs:apikeys:manage', 'orgs:roles:manage', 'orgs:webhooks:manage'] as const
export type ManagePermission = (typeof MANAGE_PERMISSIONS)[number]

export interface Actor { headers: Record<string, string>, held: string[] }

export interface OrgWorld {
  ctx: TestApp
  slug: string
  orgId: string
  ownerToken: string
  /** The actor of this world's kind that a path needing `permission` is called by. */
  actor: (permission: ManagePermission) => Actor
}

const roleOf = (slug: string): string[] => [...(BUILT_IN_ROLES.find((r) => r.slug === slug)?.permissions ?? [])]

/** A signed-in user (created through the API, as a first sign-in does); returns id and headers. */
export async function signedIn (ctx: TestApp): Promise<{ userId: string, headers: Record<string, string>, email: string }> {
  const sub = `user-${randomUUID()}`
  const email = `${sub}@example.com`
  const headers = bearer(ctx.token({ sub, email }))
  await ctx.app.inject({ method: 'GET', url: '/v2/orgs', headers })
  const user = await ctx.app.db.selectFrom('users').select('id').where('sub', '=', sub).executeTakeFirstOrThrow()
  return { userId: user.id, headers, email }
}

/** A custom role of the org with exactly these permissions (written directly). */
export async function makeRole (ctx: TestApp, orgId: string, permissions: string[]): Promise<string> {
  const slug = randomSlug('role')
  await ctx.app.db.insertInto('org_roles').values({ org_id: orgId, slug, name: slug, permissions }).execute()
  return slug
}

/** A membership of `userId` (a new pending user for an invitation) with this role and status. */
export async function makeMember (ctx: TestApp, orgId: string, roleSlug: string, status: 'active' | 'invited' = 'active', userId?: string): Promise<string> {
  const db = ctx.app.db
  const id = userId ?? (await db.insertInto('users').values(status === 'invited'
    ? { email: `${randomSlug('invited')}@example.com`, status: 'pending' }
    : { sub: `sub-${randomUUID()}`, email: `${randomSlug('member')}@example.com` }).returning('id').executeTakeFirstOrThrow()).id
  await db.insertInto('org_memberships').values({
    org_id: orgId,
    user_id: id,
    role_slug: roleSlug,
    status,
    joined_via: status === 'invited' ? 'invite-email' : 'direct',
    joined_at: status === 'invited' ? null : sql<string>`now()` as any,
    invite_expires_at: status === 'invited' ? sql<string>`now() + interval '1 day'` as any : null
  }).execute()
  return id
}

/** An API key of the org with these permissions: its id, slug and raw secret. */
export async function makeKey (ctx: TestApp, w: { orgId: string, slug: string }, permissions: string[], disabled = false) {
  const { key, raw } = await insertApiKey(ctx.app.db, { orgId: w.orgId, orgSlug: w.slug, slug: randomSlug('key'), name: 'Target', permissions })
  if (disabled) await ctx.app.db.updateTable('org_api_keys').set({ disabled: true }).where('id', '=', key.id).execute()
  return { id: key.id, slug: key.slug, raw }
}

/** An org whose actors are of one kind: one per manage permission for custom roles and keys. */
export async function buildOrgWorld (ctx: TestApp, kind: ActorKind): Promise<OrgWorld> {
  const owner = await ownerWithOrg(ctx)
  const w = { slug: owner.slug, orgId: owner.orgId }
  const member = async (roleSlug: string): Promise<Actor> => {
    const user = await signedIn(ctx)
    await makeMember(ctx, owner.orgId, roleSlug, 'active', user.userId)
    const role = await ctx.app.db.selectFrom('org_roles').select('permissions').where('org_id', '=', owner.orgId).where('slug', '=', roleSlug).executeTakeFirstOrThrow()
    return { headers: user.headers, held: role.permissions }
  }
  const actors = new Map<ManagePermission, Actor>()
  for (const permission of MANAGE_PERMISSIONS) {
    if (kind === 'owner') actors.set(permission, { headers: bearer(owner.token), held: roleOf('owner') })
    if (kind === 'custom role') actors.set(permission, await member(await makeRole(ctx, owner.orgId, [permission])))
    if (kind === 'API key') actors.set(permission, { headers: { 'x-api-key': (await makeKey(ctx, w, [permission])).raw }, held: [permission] })
  }
  if (kind === 'admin' || kind === 'plain member') {
    const one = await member(kind === 'admin' ? 'admin' : 'member')
    for (const permission of MANAGE_PERMISSIONS) actors.set(permission, one)
  }
  return { ctx, ...w, ownerToken: owner.token, actor: (permission) => actors.get(permission) as Actor }
}

/**
 * Everything the org owns, as sorted JSON lines, and the users named by `emails`. An API key's
 * `lastUsedAt` is left out: the acting key's own use touches it.
 */
export async function readBack (ctx: TestApp, orgId: string, emails: string[] = []): Promise<Record<string, string[]>> {
  const db = ctx.app.db
  // A webhook's delivery bookkeeping moves on in the background (the worker), as last_used_at may.
  const lines = (rows: object[]): string[] => rows.map((r) => JSON.stringify({ ...r, last_used_at: undefined, dispatched_seq: undefined, failing_since: undefined })).sort()
  const out: Record<string, string[]> = {
    organizations: lines(await db.selectFrom('organizations').selectAll().where('id', '=', orgId).execute()),
    users: emails.length === 0 ? [] : lines(await db.selectFrom('users').selectAll().where(sql<string>`lower(email)`, 'in', emails.map((e) => e.toLowerCase())).execute())
  }
  for (const table of ['org_memberships', 'org_roles', 'org_groups', 'org_group_members', 'org_api_keys', 'audit_events', 'org_events', 'webhooks'] as const) {
    out[table] = lines(await db.selectFrom(table).selectAll().where('org_id', '=', orgId).execute())
  }
  return out
}
