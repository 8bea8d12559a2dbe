// Org roles: the built-in three (immutable) and custom ones. A role is defined, changed or
// deleted only by a caller whose held set covers its permissions, old and new.
import { sql, type Kysely } from 'kysely'
import type { Database, OrgRole } from './schema.ts'
import { recordAudit, type AuditActor } from './audit.ts'
import { emitEvents } from './events.ts'
import { toRole } from '../lib/representations.ts'
import { ConflictError, NotFoundError } from '../lib/errors.ts'
import { containing } from '../lib/text.ts'
import { cutPage, pageQuery, type Page, type PageRequest } from './keyset.ts'
import { assertCovered } from '../lib/privilege.ts'
import { anyOf } from './arrays.ts'
import { preparedStatement } from './prepared.ts'

/** Every role of the org, in no order: a lookup by slug (the import's), not a page of the list. */
export async function listRoles (db: Kysely<Database>, orgId: string): Promise<OrgRole[]> {
  return await db.selectFrom('org_roles').selectAll().where('org_id', '=', orgId).execute()
}

/** Roles whose name holds `search` (case-insensitive). */
function rolesMatching (db: Kysely<Database>, orgId: string, search: string | undefined) {
  const query = db.selectFrom('org_roles').where('org_id', '=', orgId)
  return search === undefined ? query : query.where('name', 'ilike', containing(search))
}

export async function listRolesPage (db: Kysely<Database>, orgId: string, search: string | undefined, request: PageRequest): Promise<Page<OrgRole>> {
  const rows = await pageQuery(rolesMatching(db, orgId, search).selectAll(), { createdAt: 'created_at', id: 'id' }, request).execute()
  return cutPage(rows, request, (r) => ({ createdAt: r.created_at, id: r.id }))
}

export async function countRoles (db: Kysely<Database>, orgId: string, search: string | undefined): Promise<number> {
  const row = await rolesMatching(db, orgId, search).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  return Number(row.n)
}

export async function getRole (db: Kysely<Database>, orgId: string, slug: string): Promise<OrgRole> {
  const role = await db.selectFrom('org_roles').selectAll().where('org_id', '=', orgId).where('slug', '=', slug).executeTakeFirst()
  if (!role) throw new NotFoundError(`Role ${slug} not found`)
  return role
}

/** The permissions of each of these roles of the org that exists (slug → permissions). */
// Every add and import asks it first: prepared.
const permissionsOfRoles = preparedStatement((db, orgId: string, slugs: readonly string[]) =>
  db.selectFrom('org_roles').select(['slug', 'permissions']).where('org_id', '=', orgId).where('slug', '=', anyOf(slugs, 'text')))

export async function rolePermissions (db: Kysely<Database>, orgId: string, slugs: readonly string[]): Promise<Map<string, string[]>> {
  if (slugs.length === 0) return new Map()
  const rows = await permissionsOfRoles.execute(db, orgId, slugs)
  return new Map(rows.map((r) => [r.slug, r.permissions]))
}

/** Throws the 403 unless `held` covers every one of these roles (in the order given). */
export async function assertRolesCovered (db: Kysely<Database>, orgId: string, held: readonly string[], slugs: readonly string[]): Promise<void> {
  const unique = [...new Set(slugs)]
  const roles = await rolePermissions(db, orgId, unique)
  for (const slug of unique) assertCovered(held, roles.get(slug) ?? [], `Role ${slug}`)
}

export interface RoleInput { name?: string, slug?: string, description?: string, permissions?: string[], scopes?: string[] }

export async function createRole (db: Kysely<Database>, orgId: string, held: readonly string[], input: RoleInput & { name: string, slug: string }, by: string | null, actor: AuditActor): Promise<OrgRole> {
  assertCovered(held, input.permissions ?? [], 'The new permission set')
  return await db.transaction().execute(async (trx) => {
    const role = await trx.insertInto('org_roles').values({
      org_id: orgId,
      slug: input.slug,
      name: input.name,
      description: input.description ?? null,
      permissions: input.permissions ?? [],
      scopes: input.scopes ?? [],
      created_by: by,
      updated_by: by
    }).onConflict((oc) => oc.columns(['org_id', 'slug']).doNothing()).returningAll().executeTakeFirst()
    if (!role) throw new ConflictError(`Role ${input.slug} already exists`)
    await recordAudit(trx, actor, { orgId, action: 'role.created', targetType: 'role', targetId: role.slug, metadata: { permissions: role.permissions } })
    await emitEvents(trx, actor, orgId, (orgSlug) => [{ type: 'role.created', data: toRole(orgSlug, role) }])
    return role
  })
}

/** The role, locked for the change; built-in roles and roles the caller does not cover are refused. */
async function lockChangeableRole (trx: Kysely<Database>, orgId: string, slug: string, held: readonly string[], verb: string): Promise<OrgRole> {
  const current = await trx.selectFrom('org_roles').selectAll().where('org_id', '=', orgId).where('slug', '=', slug).forUpdate().executeTakeFirst()
  if (!current) throw new NotFoundError(`Role ${slug} not found`)
  if (current.is_system) throw new ConflictError(`Built-in role ${slug} cannot be ${verb}`)
  assertCovered(held, current.permissions, `Role ${slug}`)
  return current
}

export async function updateRole (db: Kysely<Database>, orgId: string, held: readonly string[], slug: string, input: RoleInput, by: string | null, actor: AuditActor): Promise<OrgRole> {
  assertCovered(held, input.permissions ?? [], 'The new permission set')
  return await db.transaction().execute(async (trx) => {
    const current = await lockChangeableRole(trx, orgId, slug, held, 'changed')
    const role = await trx.updateTable('org_roles').set({
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.permissions !== undefined ? { permissions: input.permissions } : {}),
      ...(input.scopes !== undefined ? { scopes: input.scopes } : {}),
      updated_by: by,
      updated_at: sql<string>`now()` as any
    }).where('id', '=', current.id).returningAll().executeTakeFirstOrThrow()
    await recordAudit(trx, actor, { orgId, action: 'role.updated', targetType: 'role', targetId: slug, metadata: { fields: Object.keys(input) } })
    await emitEvents(trx, actor, orgId, (orgSlug) => [{ type: 'role.updated', data: toRole(orgSlug, role) }])
    return role
  })
}

export async function deleteRole (db: Kysely<Database>, orgId: string, held: readonly string[], slug: string, defaultRole: string, actor: AuditActor): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const current = await lockChangeableRole(trx, orgId, slug, held, 'deleted')
    if (slug === defaultRole) throw new ConflictError(`Role ${slug} is the organization's default role`)
    const used = await trx.selectFrom('org_memberships').select('id').where('org_id', '=', orgId).where('role_slug', '=', slug).limit(1).executeTakeFirst()
    if (used) throw new ConflictError(`Role ${slug} is held by members; reassign them first`)
    await trx.deleteFrom('org_roles').where('id', '=', current.id).execute()
    await recordAudit(trx, actor, { orgId, action: 'role.deleted', targetType: 'role', targetId: slug })
    await emitEvents(trx, actor, orgId, (orgSlug) => [{ type: 'role.deleted', data: toRole(orgSlug, current) }])
  })
}
