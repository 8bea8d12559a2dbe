// POST /v2/orgs/{orgSlug}/members/export: the org's members as a streamed CSV file
// (DESIGN.md section 6). Filters come from the query string or the JSON body (the body wins).
import { recordAudit } from '../../db/audit.ts'
import { emitEvents } from '../../db/events.ts'
import { MEMBER_EXPORT_COLUMNS, memberCsvPages, type MemberExportColumn, type MemberExportFilters } from '../../db/member-export.ts'
import { ValidationError } from '../../lib/errors.ts'
import { filenameTimestamp, streamExport } from '../../lib/export-stream.ts'
import { auditActor, requireOrg } from '../access.ts'
import type { Handlers, OpRequest } from '../operations.ts'

/** Concurrent exports of one organization (across instances on PostgreSQL). */
export const MEMBER_EXPORT_SLOTS = 2

/** The columns asked for, in order; an unknown or repeated column is a 400. */
export function parseColumns (raw: string | readonly string[] | undefined, field: string): MemberExportColumn[] {
  if (raw === undefined) return [...MEMBER_EXPORT_COLUMNS]
  const names = typeof raw === 'string' ? raw.split(',').map((c) => c.trim()) : [...raw]
  const known = new Set<string>(MEMBER_EXPORT_COLUMNS)
  const seen = new Set<string>()
  for (const name of names) {
    if (!known.has(name)) {
      throw new ValidationError(`${field}: unknown column "${name}"; known columns are ${MEMBER_EXPORT_COLUMNS.join(',')}`,
        [{ field, message: `unknown column "${name}"` }])
    }
    if (seen.has(name)) throw new ValidationError(`${field}: column "${name}" appears twice`, [{ field, message: `repeated column "${name}"` }])
    seen.add(name)
  }
  return names as MemberExportColumn[]
}

function exportInput (request: OpRequest<'exportOrgMembers'>) {
  const query = request.query
  const body = request.body ?? {}
  const pick = <K extends keyof MemberExportFilters>(k: K): MemberExportFilters[K] => body[k] ?? query[k]
  const filters: MemberExportFilters = {}
  for (const k of ['status', 'roleSlug', 'group', 'q', 'createdAfter', 'createdBefore'] as const) {
    const v = pick(k)
    if (v !== undefined) (filters as Record<string, unknown>)[k] = v
  }
  if (filters.createdAfter !== undefined && filters.createdBefore !== undefined &&
      Date.parse(filters.createdAfter) > Date.parse(filters.createdBefore)) {
    throw new ValidationError('createdAfter must not be later than createdBefore', [{ field: 'createdAfter', message: 'is later than createdBefore' }])
  }
  const columns = body.columns !== undefined
    ? parseColumns(body.columns, 'body/columns')
    : parseColumns(query.columns, 'querystring/columns')
  return { filters, columns, bom: query.bom === true }
}

export const memberExportHandlers = {
  async exportOrgMembers (request, reply) {
    const { org } = await requireOrg(request, request.params.orgSlug, 'orgs:members:read')
    const { filters, columns, bom } = exportInput(request)
    const config = this.config
    const pages = memberCsvPages(this.database, org.id, filters, columns, {
      pageSize: config.EXPORT_PAGE_SIZE, maxSeconds: config.EXPORT_MAX_SECONDS, stallMs: config.EXPORT_STALL_MS, slots: MEMBER_EXPORT_SLOTS
    })
    const result = await streamExport(request, reply, {
      filename: `${org.slug}-members-${filenameTimestamp()}.csv`,
      format: 'csv',
      // The header's names; the records come encoded.
      columns: columns.map((name) => ({ name, value: () => undefined })),
      pages,
      bom,
      stallMs: config.EXPORT_STALL_MS
    })
    try {
      const exported = { format: 'csv', filters, columns, rows: result.rows, outcome: result.outcome }
      await this.db.transaction().execute(async (trx) => {
        await recordAudit(trx, auditActor(request), { orgId: org.id, action: 'members.exported', targetType: 'organization', targetId: org.id, metadata: exported })
        await emitEvents(trx, auditActor(request), org, [{ type: 'members.exported', data: exported }])
      })
    } catch (err) {
      request.log.error({ err }, 'recording the export audit event failed')
    }
    return reply
  }
} satisfies Partial<Handlers>
