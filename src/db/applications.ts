// Applications and their roles (platform administration). Each insert writes its audit event
// in the same transaction; lists are keyset pages, newest first.
import type { Kysely, Selectable } from 'kysely'
import type { ApplicationRolesTable, ApplicationsTable, Database } from './schema.ts'
import { cutPage, pageQuery, type Page, type PageRequest } from './keyset.ts'
import { recordAudit, type AuditActor } from './audit.ts'

export type Application = Selectable<ApplicationsTable>
export type ApplicationRole = Selectable<ApplicationRolesTable>

const APPLICATION_COLUMNS = ['id', 'slug', 'name', 'description', 'created_by', 'created_at', 'updated_at'] as const
const ROLE_COLUMNS = ['id', 'application_id', 'slug', 'name', 'description', 'permissions', 'created_by', 'created_at', 'updated_at'] as const

export async function findApplication (db: Kysely<Database>, id: string): Promise<Application | undefined> {
  return await db.selectFrom('applications').select(APPLICATION_COLUMNS).where('id', '=', id).executeTakeFirst()
}

export async function applicationSlugTaken (db: Kysely<Database>, slug: string): Promise<boolean> {
  return (await db.selectFrom('applications').select('id').where('slug', '=', slug).executeTakeFirst()) !== undefined
}

export interface NewApplication { slug: string, name: string, description?: string | null }

export async function createApplication (db: Kysely<Database>, input: NewApplication, createdBy: string, actor: AuditActor): Promise<Application> {
  return await db.transaction().execute(async (trx) => {
    const app = await trx.insertInto('applications')
      .values({ slug: input.slug, name: input.name, description: input.description ?? null, created_by: createdBy })
      .returning(APPLICATION_COLUMNS).executeTakeFirstOrThrow()
    await recordAudit(trx, actor, { orgId: null, action: 'application.created', targetType: 'application', targetId: app.id, metadata: { slug: app.slug } })
    return app
  })
}

const ORDER = { createdAt: 'created_at', id: 'id' }
const positionOf = (r: { created_at: string, id: string }) => ({ createdAt: r.created_at, id: r.id })

export async function listApplicationsPage (db: Kysely<Database>, request: PageRequest): Promise<Page<Application>> {
  return cutPage(await pageQuery(db.selectFrom('applications').select(APPLICATION_COLUMNS), ORDER, request).execute(), request, positionOf)
}

export async function applicationRoleSlugTaken (db: Kysely<Database>, applicationId: string, slug: string): Promise<boolean> {
  const row = await db.selectFrom('application_roles').select('id')
    .where('application_id', '=', applicationId).where('slug', '=', slug).executeTakeFirst()
  return row !== undefined
}

export interface NewApplicationRole { slug: string, name: string, description?: string | null, permissions?: string[] }

export async function createApplicationRole (db: Kysely<Database>, applicationId: string, input: NewApplicationRole, createdBy: string, actor: AuditActor): Promise<ApplicationRole> {
  return await db.transaction().execute(async (trx) => {
    const role = await trx.insertInto('application_roles').values({
      application_id: applicationId,
      slug: input.slug,
      name: input.name,
      description: input.description ?? null,
      permissions: input.permissions ?? [],
      created_by: createdBy
    }).returning(ROLE_COLUMNS).executeTakeFirstOrThrow()
    await recordAudit(trx, actor, {
      orgId: null,
      action: 'application.role.created',
      targetType: 'application_role',
      targetId: role.id,
      metadata: { applicationId, slug: role.slug, permissions: role.permissions }
    })
    return role
  })
}

export async function listApplicationRolesPage (db: Kysely<Database>, applicationId: string, request: PageRequest): Promise<Page<ApplicationRole>> {
  const query = db.selectFrom('application_roles').select(ROLE_COLUMNS).where('application_id', '=', applicationId)
  return cutPage(await pageQuery(query, ORDER, request).execute(), request, positionOf)
}
