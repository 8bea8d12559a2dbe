// POST /v2/orgs/{orgSlug}/members/import: a text/csv body in the member export's own format,
// read as a stream (never whole in memory), applied in batches of up to 1,000 rows.
import type { Readable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import type { FastifyInstance } from 'fastify'
import { recordAudit } from '../../db/audit.ts'
import { emitEvents } from '../../db/events.ts'
import { listRoles } from '../../db/roles.ts'
import { importMemberBatch, type ImportOutcome, type ImportRow } from '../../db/member-import.ts'
import type { MembershipStatus } from '../../db/schema.ts'
import { unprefixCell } from '../../lib/csv.ts'
import { csvRecordBatches, type CsvRecord } from '../../lib/csv-reader.ts'
import { clipErrorText, PayloadTooLargeError, ValidationError } from '../../lib/errors.ts'
import { firstUncovered, uncoveredMessage } from '../../lib/privilege.ts'
import { actorUserId } from '../../lib/principal.ts'
import { auditActor, principalOf, requireOrg } from '../access.ts'
import { registerOperations, type Handlers } from '../operations.ts'

export const IMPORT_MAX_BYTES = 50 * 1024 * 1024
export const IMPORT_BATCH = 1000
/** Failed lines listed in the answer; `failedCount` has them all. */
const MAX_FAILED_LISTED = 1000
const STATUSES = new Set(['active', 'invited', 'suspended'])
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const MAX_EMAIL = 320
const MAX_NAME = 200
const MAX_GROUPS = 50
const MAX_GROUP = 63

/** The body as text chunks, refused past the limit. */
async function * bodyText (body: Readable, limit: number): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8')
  let bytes = 0
  for await (const chunk of body) {
    bytes += (chunk as Buffer).length
    if (bytes > limit) throw new PayloadTooLargeError(`A CSV import is at most ${limit} bytes`)
    yield decoder.write(chunk as Buffer)
  }
  yield decoder.end()
}

function headerOf (record: CsvRecord | undefined): string[] {
  if (record === undefined) throw new ValidationError('body: the CSV has no header row', [{ field: 'body', message: 'has no header row' }])
  if (record.fields === undefined) throw new ValidationError(`body: the header row is not valid CSV (${record.error})`, [{ field: 'body', message: 'header is not valid CSV' }])
  const names = record.fields.map((n) => n.trim())
  if (!names.includes('userId') && !names.includes('email')) {
    throw new ValidationError('body: the header must name a userId or an email column', [{ field: 'body', message: 'needs a userId or email column' }])
  }
  const dup = names.find((n, i) => n !== '' && names.indexOf(n) !== i)
  if (dup !== undefined) throw new ValidationError(`body: column ${dup} appears twice`, [{ field: 'body', message: `repeated column ${dup}` }])
  return names
}

// CSV column → user field.
const NAME_COLUMNS = [['firstName', 'givenName'], ['lastName', 'familyName'], ['fullName', 'fullName']] as const

/** What a line may name: the org's roles (slug → permissions), its default role, the caller's held set. */
interface RowContext { roles: Map<string, string[]>, defaultRole: string, held: readonly string[] }

/** One record as an import row, or the reason its line fails. */
function toRow (record: CsvRecord, header: string[], { roles, defaultRole, held }: RowContext): ImportRow | { line: number, message: string } {
  const line = record.line
  if (record.fields === undefined) return { line, message: `not valid CSV: ${record.error}` }
  if (record.fields.length !== header.length) return { line, message: `expected ${header.length} fields, found ${record.fields.length}` }
  // PostgreSQL text cannot hold NUL; refused here, it would fail the whole batch.
  if (record.fields.some((f) => f.includes('\u0000'))) return { line, message: 'contains a NUL byte' }
  const cell = (name: string): string | undefined => {
    const i = header.indexOf(name)
    const v = i < 0 ? undefined : unprefixCell(record.fields![i]!)
    return v === '' ? undefined : v
  }
  const userId = cell('userId')
  const email = cell('email')
  if (userId === undefined && email === undefined) return { line, message: 'needs a userId or an email' }
  if (userId !== undefined && !UUID.test(userId)) return { line, message: 'userId is not a UUID' }
  const roleSlug = cell('roleSlug') ?? defaultRole
  const permissions = roles.get(roleSlug)
  if (permissions === undefined) return { line, message: `role ${roleSlug} does not exist in this organization` }
  // The privilege ceiling, with the message POST /members answers with.
  const missing = firstUncovered(held, permissions)
  if (missing !== undefined) return { line, message: uncoveredMessage(`Role ${roleSlug}`, missing) }
  const status = cell('status')
  if (status !== undefined && !STATUSES.has(status)) return { line, message: 'status must be active, invited or suspended' }
  const groups = (cell('groups') ?? '').split(';').filter((g) => g !== '')
  // The bounds of a JSON add (email, groups) and of display names elsewhere in the API.
  if (email !== undefined && email.length > MAX_EMAIL) return { line, message: `email is longer than ${MAX_EMAIL} characters` }
  const names: Partial<Record<(typeof NAME_COLUMNS)[number][1], string>> = {}
  for (const [column, field] of NAME_COLUMNS) {
    const value = cell(column)
    if (value === undefined) continue
    if (value.length > MAX_NAME) return { line, message: `${column} is longer than ${MAX_NAME} characters` }
    names[field] = value
  }
  if (groups.length > MAX_GROUPS) return { line, message: `more than ${MAX_GROUPS} groups` }
  const longGroup = groups.find((g) => g.length > MAX_GROUP)
  if (longGroup !== undefined) return { line, message: `group ${longGroup.slice(0, 20)}… is longer than ${MAX_GROUP} characters` }
  return {
    line,
    roleSlug,
    groups,
    ...(userId !== undefined ? { userId: userId.toLowerCase() } : {}),
    ...(email !== undefined ? { email } : {}),
    ...(status !== undefined ? { status: status as MembershipStatus } : {}),
    ...names
  }
}

export const memberImportHandlers = {
  async importOrgMembers (request, reply) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, 'orgs:members:manage')
    if (Number(request.headers['content-length'] ?? 0) > IMPORT_MAX_BYTES) {
      reply.header('connection', 'close')
      throw new PayloadTooLargeError(`A CSV import is at most ${IMPORT_MAX_BYTES} bytes`)
    }
    const dryRun = request.query.dryRun === true
    const skipExisting = request.query.skipExisting !== false
    const context: RowContext = { roles: new Map((await listRoles(this.db, org.id)).map((r) => [r.slug, r.permissions])), defaultRole: org.default_role, held: permissions }
    const options = { dryRun, skipExisting, by: actorUserId(principalOf(request)), inviteTtlHours: this.config.INVITE_TTL_HOURS, seen: new Map<string, number>() }
    const total: ImportOutcome = { created: 0, skipped: 0, failed: [] }
    let failedCount = 0
    let header: string[] | null = null
    const fail = (f: { line: number, message: string }): void => {
      failedCount++
      if (total.failed.length < MAX_FAILED_LISTED) total.failed.push({ line: f.line, message: clipErrorText(f.message) })
    }
    try {
      for await (const batch of csvRecordBatches(bodyText(request.body as unknown as Readable, IMPORT_MAX_BYTES), IMPORT_BATCH)) {
        if (header === null) header = headerOf(batch.shift())
        const rows: ImportRow[] = []
        for (const record of batch) {
          const row = toRow(record, header, context)
          if ('message' in row) fail(row); else rows.push(row)
        }
        const outcome = await importMemberBatch(this.db, org, rows, options, auditActor(request))
        total.created += outcome.created
        total.skipped += outcome.skipped
        outcome.failed.forEach(fail)
      }
    } catch (err) {
      if (err instanceof PayloadTooLargeError && total.created > 0) {
        reply.header('connection', 'close')
        throw new PayloadTooLargeError(`${err.message}; ${total.created} members from before the limit were added`)
      }
      throw err
    }
    if (header === null) headerOf(undefined)
    total.failed.sort((a, b) => a.line - b.line)
    this.metrics.importRows(total.created, total.skipped, failedCount, dryRun)
    if (!dryRun) {
      const imported = { created: total.created, skipped: total.skipped, failed: failedCount, skipExisting }
      await this.db.transaction().execute(async (trx) => {
        await recordAudit(trx, auditActor(request), { orgId: org.id, action: 'members.imported', targetType: 'organization', targetId: org.id, metadata: imported })
        await emitEvents(trx, auditActor(request), org, [{ type: 'members.imported', data: imported }])
      })
    }
    return { ...total, failedCount, dryRun }
  }
} satisfies Partial<Handlers>

/** The import's route in its own context: only here does text/csv arrive, as a raw stream. */
export async function memberImportRoutes (app: FastifyInstance): Promise<void> {
  app.addContentTypeParser('text/csv', (_request, payload, done) => { done(null, payload) })
  registerOperations(app, memberImportHandlers)
}
