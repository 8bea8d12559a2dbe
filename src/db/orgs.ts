// Organizations and the caller's access to one.
import { sql, type Kysely } from 'kysely'
import type { Database, Organization } from './schema.ts'
import type { Principal } from '../lib/principal.ts'
import { BUILT_IN_ROLES } from '../lib/permissions.ts'
import { recordAudit, type AuditActor } from './audit.ts'
import { emitEvents } from './events.ts'
import { toOrganization } from '../lib/representations.ts'
import { containing } from '../lib/text.ts'

export interface OrgAccess {
  org: Organization
  /** The caller's permissions in this org; null when the caller has no standing in it. */
  permissions: string[] | null
  roleSlug: string | null
}

/** The org by slug or id, with the permissions the principal holds in it. */
export async function loadOrgAccess (db: Kysely<Database>, principal: Principal, by: { slug: string } | { id: string }): Promise<OrgAccess | null> {
  if (principal.kind === 'apiKey') {
    // A key acts on its own org only; any other org, existing or not, is the same denial.
    const own = 'slug' in by ? by.slug === principal.org.slug : by.id === principal.org.id
    return own ? { org: principal.org, permissions: principal.permissions, roleSlug: null } : null
  }
  let query = db.selectFrom('organizations').selectAll('organizations')
  query = 'slug' in by ? query.where('organizations.slug', '=', by.slug) : query.where('organizations.id', '=', by.id)
  const row = await query
    .leftJoin('org_memberships as m', (join) => join
      .onRef('m.org_id', '=', 'organizations.id').on('m.user_id', '=', principal.userId).on('m.status', '=', 'active'))
    .leftJoin('org_roles as r', (join) => join.onRef('r.org_id', '=', 'organizations.id').onRef('r.slug', '=', 'm.role_slug'))
    .select(['r.permissions as role_permissions', 'm.role_slug as member_role'])
    .executeTakeFirst()
  if (!row) return null
  const { role_permissions: permissions, member_role: roleSlug, ...org } = row
  return { org, permissions: roleSlug === null ? null : (permissions ?? []), roleSlug }
}

export function slugify (name: string): string {
  const base = name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48)
  return base.length > 0 ? base : 'org'
}

export async function slugTaken (db: Kysely<Database>, slug: string): Promise<boolean> {
  return (await db.selectFrom('organizations').select('id').where('slug', '=', slug).executeTakeFirst()) !== undefined
}

/** True when an organization has this id (platform admin routes look orgs up by id). */
export async function organizationExists (db: Kysely<Database>, id: string): Promise<boolean> {
  return (await db.selectFrom('organizations').select('id').where('id', '=', id).executeTakeFirst()) !== undefined
}

export interface NewOrganization { slug: string, name: string, description?: string | null }

/** Creates the org, its built-in roles and the creator's owner membership, in one transaction. */
export async function createOrganization (db: Kysely<Database>, creatorId: string, input: NewOrganization, actor: AuditActor): Promise<Organization> {
  return await db.transaction().execute(async (trx) => {
    const org = await trx.insertInto('organizations')
      .values({ slug: input.slug, name: input.name, description: input.description ?? null, created_by: creatorId })
      .returningAll().executeTakeFirstOrThrow()
    await trx.insertInto('org_roles').values(BUILT_IN_ROLES.map((r) => ({
      org_id: org.id, slug: r.slug, name: r.name, description: r.description, permissions: [...r.permissions], is_system: true, created_by: creatorId
    }))).execute()
    await trx.insertInto('org_memberships').values({
      org_id: org.id,
      user_id: creatorId,
      role_slug: 'owner',
      status: 'active',
      joined_via: 'direct',
      joined_at: sql<string>`now()` as any,
      created_by: creatorId,
      updated_by: creatorId
    }).execute()
    await recordAudit(trx, actor, { orgId: org.id, action: 'org.created', targetType: 'organization', targetId: org.id, metadata: { slug: org.slug } })
    await emitEvents(trx, actor, org, [{ type: 'organization.created', data: toOrganization(org) }])
    return org
  })
}

export interface OrgListQuery { limit: number, page: number, search?: string, status?: string, sort: string }

const ORG_SORTS = { createdAt: 'created_at', name: 'name', slug: 'slug' } as const

export async function listOrganizationsOfUser (db: Kysely<Database>, userId: string, q: OrgListQuery): Promise<{ results: Organization[], total: number }> {
  let base = db.selectFrom('organizations')
    .innerJoin('org_memberships as m', 'm.org_id', 'organizations.id')
    .where('m.user_id', '=', userId).where('m.status', '=', 'active')
  if (q.search) {
    const pattern = containing(q.search)
    base = base.where((eb) => eb.or([eb('organizations.name', 'ilike', pattern), eb('organizations.slug', 'ilike', pattern)]))
  }
  if (q.status) base = base.where('organizations.status', '=', q.status as Organization['status'])
  const desc = q.sort.startsWith('-')
  const column = ORG_SORTS[q.sort.replace(/^-/, '') as keyof typeof ORG_SORTS] ?? 'created_at'
  const [results, count] = await Promise.all([
    base.selectAll('organizations')
      .orderBy(`organizations.${column}`, desc ? 'desc' : 'asc').orderBy('organizations.id', desc ? 'desc' : 'asc')
      .limit(q.limit).offset((q.page - 1) * q.limit).execute(),
    base.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow()
  ])
  return { results, total: Number(count.total) }
}

export interface OrganizationPatch { name?: string, description?: string | null, status?: 'active' | 'suspended', defaultRole?: string }

export async function updateOrganization (db: Kysely<Database>, orgId: string, patch: OrganizationPatch, actor: AuditActor): Promise<Organization> {
  return await db.transaction().execute(async (trx) => {
    const org = await trx.updateTable('organizations').set({
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.status !== undefined ? { status: patch.status } : {}),
      ...(patch.defaultRole !== undefined ? { default_role: patch.defaultRole } : {}),
      updated_at: sql<string>`now()` as any
    }).where('id', '=', orgId).returningAll().executeTakeFirstOrThrow()
    await recordAudit(trx, actor, { orgId, action: 'org.updated', targetType: 'organization', targetId: orgId, metadata: { fields: Object.keys(patch) } })
    await emitEvents(trx, actor, org, [{ type: 'organization.updated', data: toOrganization(org) }])
    return org
  })
}

export async function deleteOrganization (db: Kysely<Database>, org: Organization, actor: AuditActor): Promise<void> {
  await db.transaction().execute(async (trx) => {
    // Emitted first (the counter lock then queues the org's other writers), and kept after the
    // org is gone, so its endpoints still hear of it.
    await emitEvents(trx, actor, org, [{ type: 'organization.deleted', data: toOrganization(org) }])
    await trx.deleteFrom('organizations').where('id', '=', org.id).execute()
    await recordAudit(trx, actor, { orgId: org.id, action: 'org.deleted', targetType: 'organization', targetId: org.id, metadata: { slug: org.slug } })
  })
}

export async function roleExists (db: Kysely<Database>, orgId: string, slug: string): Promise<boolean> {
  return (await db.selectFrom('org_roles').select('id').where('org_id', '=', orgId).where('slug', '=', slug).executeTakeFirst()) !== undefined
}
