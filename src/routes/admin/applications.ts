// /api/admin/applications, /api/admin/applications/{applicationId}/roles and /api/admin/clients.
// Platform permissions only (JWT `permissions` claim): `admin:write` to create, the read
// permission of the entity to list.
import {
  applicationRoleSlugTaken, applicationSlugTaken, createApplication, createApplicationRole, findApplication,
  listApplicationRolesPage, listApplicationsPage, type Application, type ApplicationRole
} from '../../db/applications.ts'
import { createClient, listClientsPage, type OauthClientRow } from '../../db/clients.ts'
import { dataEnvelope, pageRequest } from '../../db/keyset.ts'
import { organizationExists } from '../../db/orgs.ts'
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors.ts'
import { normalizeRedirectUri } from '../../lib/redirect-uri.ts'
import { auditActor, requirePlatformPermission } from '../access.ts'
import type { Handlers } from '../operations.ts'
import type { components } from '../../../generated/openapi.js'

function toApplication (a: Application) {
  return { id: a.id, slug: a.slug, name: a.name, description: a.description, createdBy: a.created_by, createdAt: a.created_at, updatedAt: a.updated_at }
}

function toRole (r: ApplicationRole) {
  return {
    id: r.id,
    applicationId: r.application_id,
    slug: r.slug,
    name: r.name,
    description: r.description,
    permissions: r.permissions,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at
  }
}

// The database holds only values the request schema's GrantType enum accepted.
type GrantType = components['schemas']['GrantType']

function toClient (c: OauthClientRow) {
  return {
    id: c.id,
    organizationId: c.org_id,
    applicationId: c.application_id,
    clientId: c.client_id,
    name: c.name,
    redirectUris: c.redirect_uris,
    grantTypes: c.grant_types as GrantType[],
    scopes: c.scopes,
    createdBy: c.created_by,
    createdAt: c.created_at,
    updatedAt: c.updated_at
  }
}

async function existingApplication (db: Parameters<typeof findApplication>[0], id: string): Promise<Application> {
  const app = await findApplication(db, id)
  if (!app) throw new NotFoundError(`Application ${id} not found`)
  return app
}

export const applicationHandlers = {
  async createApplication (request, reply) {
    const user = requirePlatformPermission(request, 'admin:write')
    const { slug, name, description } = request.body
    if (await applicationSlugTaken(this.db, slug)) throw new ConflictError(`Application slug ${slug} is taken`)
    const app = await createApplication(this.db, { slug, name, description }, user.userId, auditActor(request))
    reply.code(201)
    return toApplication(app)
  },

  async listApplications (request) {
    requirePlatformPermission(request, 'role:read')
    const cursor = { kind: 'token', scope: 'applications' } as const
    const paging = await pageRequest(cursor, request.query, 50)
    return dataEnvelope(cursor, paging, await listApplicationsPage(this.db, paging), toApplication)
  },

  async createApplicationRole (request, reply) {
    const user = requirePlatformPermission(request, 'admin:write')
    const app = await existingApplication(this.db, request.params.applicationId)
    const { slug, name, description, permissions } = request.body
    if (await applicationRoleSlugTaken(this.db, app.id, slug)) throw new ConflictError(`Role slug ${slug} is taken in application ${app.slug}`)
    const role = await createApplicationRole(this.db, app.id, { slug, name, description, permissions }, user.userId, auditActor(request))
    reply.code(201)
    return toRole(role)
  },

  async listApplicationRoles (request) {
    requirePlatformPermission(request, 'role:read')
    const app = await existingApplication(this.db, request.params.applicationId)
    const cursor = { kind: 'token', scope: `roles:${app.id}` } as const
    const paging = await pageRequest(cursor, request.query, 50)
    return dataEnvelope(cursor, paging, await listApplicationRolesPage(this.db, app.id, paging), toRole)
  },

  async createClient (request, reply) {
    const user = requirePlatformPermission(request, 'admin:write')
    const { organizationId, applicationId, name, redirectUris = [], grantTypes = ['authorization_code', 'refresh_token'], scopes = [] } = request.body
    const checked = redirectUris.map(normalizeRedirectUri)
    const problems = checked.flatMap((c, i) => ('problem' in c ? [{ field: `body/redirectUris/${i}`, message: c.problem }] : []))
    if (problems.length > 0) throw new ValidationError(`${problems[0]!.field} ${problems[0]!.message}`, problems)
    if (!(await organizationExists(this.db, organizationId))) throw new NotFoundError(`Organization ${organizationId} not found`)
    if (applicationId !== undefined) await existingApplication(this.db, applicationId)
    const { client, secret } = await createClient(this.db,
      { orgId: organizationId, applicationId: applicationId ?? null, name, redirectUris: checked.flatMap((c) => ('uri' in c ? [c.uri] : [])), grantTypes, scopes },
      user.userId, auditActor(request))
    reply.code(201)
    return { ...toClient(client), clientSecret: secret }
  },

  async listClients (request) {
    requirePlatformPermission(request, 'client:read')
    const { organizationId } = request.query
    if (!(await organizationExists(this.db, organizationId))) throw new NotFoundError(`Organization ${organizationId} not found`)
    const cursor = { kind: 'token', scope: `clients:${organizationId}` } as const
    const paging = await pageRequest(cursor, request.query, 50)
    return dataEnvelope(cursor, paging, await listClientsPage(this.db, organizationId, paging), toClient)
  }
} satisfies Partial<Handlers>
