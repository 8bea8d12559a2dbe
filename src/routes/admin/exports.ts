// GET /api/admin/export/{users|organizations|clients|roles|audit} (seed data-export-api.md,
// DESIGN.md section 7): platform permission from the JWT, then the scope checked (404 for an
// unknown org or application), then the rows streamed as CSV or as a JSON envelope by the one
// streaming helper. Each export writes one audit event once it has ended, with its outcome.
import type { FastifyReply } from 'fastify'
import { findApplication } from '../../db/applications.ts'
import { recordAudit } from '../../db/audit.ts'
import { ADMIN_EXPORT_COLUMNS, adminExportPages, auditHasOrganization, type AdminExportEntity, type AdminExportRow, type AdminExportScope } from '../../db/admin-export.ts'
import { organizationExists } from '../../db/orgs.ts'
import { NotFoundError } from '../../lib/errors.ts'
import { filenameTimestamp, streamExport, type ExportColumn } from '../../lib/export-stream.ts'
import { auditDateRange } from '../../lib/audit-dates.ts'
import { auditActor, requirePlatformPermission } from '../access.ts'
import type { Handlers, OpRequest } from '../operations.ts'

/** The seed's cap on the audit export: the newest rows only. */
export const AUDIT_EXPORT_MAX_ROWS = 10_000
/** Concurrent exports of one entity and scope (across instances on PostgreSQL). */
export const ADMIN_EXPORT_SLOTS = 2

const PERMISSIONS: Record<AdminExportEntity, string> = {
  users: 'user:read', organizations: 'org:read', clients: 'client:read', roles: 'role:read', audit: 'audit:read'
}

const COLUMNS = Object.fromEntries(Object.entries(ADMIN_EXPORT_COLUMNS).map(([entity, names]) =>
  [entity, names.map((name, i): ExportColumn<AdminExportRow> => ({ name, value: (row) => row[i] }))])) as
  Record<AdminExportEntity, Array<ExportColumn<AdminExportRow>>>

type ExportRequest = OpRequest<'exportUsers' | 'exportOrganizations' | 'exportClients' | 'exportRoles' | 'exportAudit'>

async function requireOrganization (request: ExportRequest, orgId: string): Promise<void> {
  if (!(await organizationExists(request.server.db, orgId))) throw new NotFoundError(`Organization ${orgId} not found`)
}

async function runExport (request: ExportRequest, reply: FastifyReply, entity: AdminExportEntity, scope: AdminExportScope): Promise<FastifyReply> {
  const { config, database } = request.server
  const format = request.query.format ?? 'json'
  // Filled from the count, before streamExport writes the headers (it reads them after the
  // first page, which comes after the count).
  const headers: Record<string, string> = {}
  let truncated = false
  const pages = adminExportPages(database, entity, scope, {
    pageSize: config.EXPORT_PAGE_SIZE,
    maxSeconds: config.EXPORT_MAX_SECONDS,
    stallMs: config.EXPORT_STALL_MS,
    slots: ADMIN_EXPORT_SLOTS,
    ...(entity === 'audit'
      ? {
          cap: {
            rows: AUDIT_EXPORT_MAX_ROWS,
            onMatched: (matched: number) => {
              truncated = matched > AUDIT_EXPORT_MAX_ROWS
              if (truncated) headers['x-export-truncated'] = 'true'
            }
          }
        }
      : {})
  })
  const result = await streamExport(request, reply, {
    filename: `${entity}-export-${filenameTimestamp()}.${format}`,
    format,
    columns: COLUMNS[entity],
    pages,
    stallMs: config.EXPORT_STALL_MS,
    headers,
    ...(entity === 'audit' ? { envelope: () => ({ truncated }) } : {})
  })
  try {
    await recordAudit(request.server.db, auditActor(request), {
      orgId: scope.orgId ?? null,
      action: `${entity}.exported`,
      ...targetOf(scope),
      metadata: { format, ...datesOf(scope), rows: result.rows, outcome: result.outcome, ...(entity === 'audit' ? { truncated } : {}) }
    })
  } catch (err) {
    request.log.error({ err }, 'recording the export audit event failed')
  }
  return reply
}

/** The audit bounds of the scope, as applied (the ids are the event's target already). */
function datesOf ({ orgId: _o, applicationId: _a, ...dates }: AdminExportScope): Partial<AdminExportScope> {
  return dates
}

function targetOf (scope: AdminExportScope): { targetType?: string, targetId?: string } {
  if (scope.applicationId !== undefined) return { targetType: 'application', targetId: scope.applicationId }
  if (scope.orgId !== undefined) return { targetType: 'organization', targetId: scope.orgId }
  return {}
}

export const adminExportHandlers = {
  async exportUsers (request, reply) {
    requirePlatformPermission(request, PERMISSIONS.users)
    await requireOrganization(request, request.query.organizationId)
    return await runExport(request, reply, 'users', { orgId: request.query.organizationId })
  },

  async exportOrganizations (request, reply) {
    requirePlatformPermission(request, PERMISSIONS.organizations)
    return await runExport(request, reply, 'organizations', {})
  },

  async exportClients (request, reply) {
    requirePlatformPermission(request, PERMISSIONS.clients)
    await requireOrganization(request, request.query.organizationId)
    return await runExport(request, reply, 'clients', { orgId: request.query.organizationId })
  },

  async exportRoles (request, reply) {
    requirePlatformPermission(request, PERMISSIONS.roles)
    const app = await findApplication(this.db, request.query.applicationId)
    if (!app) throw new NotFoundError(`Application ${request.query.applicationId} not found`)
    return await runExport(request, reply, 'roles', { applicationId: app.id })
  },

  async exportAudit (request, reply) {
    requirePlatformPermission(request, PERMISSIONS.audit)
    const range = auditDateRange(request.query.startDate, request.query.endDate)
    const orgId = request.query.organizationId
    // A deleted organization's trail stays exportable; an id the log never saw is a 404.
    if (!(await auditHasOrganization(this.db, orgId))) await requireOrganization(request, orgId)
    return await runExport(request, reply, 'audit', { orgId, ...range })
  }
} satisfies Partial<Handlers>
