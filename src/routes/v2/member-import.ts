// POST /v2/orgs/{orgSlug}/members/import: a text/csv body in the member export's own format,
// read as a stream (never whole in memory), decoded from its charset, split into records by
// csv-parse, each line checked like a POST /members entry and written by the same writer, the
// whole file in one transaction (src/db/member-import.ts).
import type { Readable } from 'node:stream'
import { isUtf8 } from 'node:buffer'
import type { FastifyInstance } from 'fastify'
import { importMembers, ImportRolledBack, type ImportLine } from '../../db/member-import.ts'
import type { WriteEntry } from '../../db/member-writes.ts'
import { unprefixCell } from '../../lib/csv.ts'
import { csvRecords, type CsvRecord } from '../../lib/csv-reader.ts'
import { AppError, clipErrorText, PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../../lib/errors.ts'
import { entryProblem } from '../../lib/member-entry.ts'
import { actorUserId } from '../../lib/principal.ts'
import { toAppError } from '../../plugins/errors.ts'
import { auditActor, principalOf, requireOrg } from '../access.ts'
import { registerOperations, type Handlers } from '../operations.ts'

export const IMPORT_MAX_BYTES = 50 * 1024 * 1024
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** The charsets a body may name (WHATWG labels TextDecoder knows); default utf-8. */
const CHARSETS = new Map([
  ['utf-8', 'utf-8'], ['utf8', 'utf-8'], ['windows-1252', 'windows-1252'], ['cp1252', 'windows-1252'],
  ['iso-8859-1', 'windows-1252'], ['latin1', 'windows-1252'], ['utf-16', 'utf-16le'], ['utf-16le', 'utf-16le'], ['utf-16be', 'utf-16be']
])
const NOTHING_WRITTEN = 'nothing was written'

function charsetOf (contentType: string | undefined): { label: string, named: boolean } {
  const given = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '')?.[1]?.toLowerCase()
  if (given === undefined) return { label: 'utf-8', named: false }
  const label = CHARSETS.get(given)
  if (label === undefined) throw new UnsupportedMediaTypeError(`charset ${given.slice(0, 40)} is not supported; use utf-8, windows-1252, iso-8859-1 or utf-16`)
  return { label, named: true }
}

/** The line (1-based) of the first byte sequence of `bytes` that is not UTF-8. */
function badUtf8Line (bytes: Buffer, linesBefore: number): number {
  let start = 0
  for (let line = linesBefore + 1; ; line++) {
    const end = bytes.indexOf(10, start)
    if (end < 0 || !isUtf8(bytes.subarray(start, end))) return line
    start = end + 1
  }
}

/** The body as text chunks in its charset, refused past the limit or when it is not that charset. */
async function * bodyText (body: Readable, limit: number, charset: { label: string, named: boolean }): AsyncGenerator<string> {
  const decoder = new TextDecoder(charset.label, { fatal: true, ignoreBOM: false })
  let bytes = 0
  let lines = 0
  // Not destroyed when reading stops early: the handler drains the rest before answering.
  for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    bytes += chunk.length
    if (bytes > limit) throw new PayloadTooLargeError(`A CSV import is at most ${limit} bytes; ${NOTHING_WRITTEN}`)
    let text: string
    try {
      text = decoder.decode(chunk, { stream: true })
    } catch {
      const line = charset.label === 'utf-8' ? badUtf8Line(chunk, lines) : lines + 1
      const hint = charset.named ? '' : '; if the file is in another encoding, name it, e.g. Content-Type: text/csv; charset=windows-1252'
      throw new ValidationError(`body: line ${line} is not valid ${charset.label}${hint}; ${NOTHING_WRITTEN}`, [{ field: 'body', message: `line ${line} is not valid ${charset.label}` }])
    }
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++
    yield text
  }
  yield decoder.decode()
}

const noHeader = (): ValidationError => new ValidationError('body: the CSV has no header row', [{ field: 'body', message: 'has no header row' }])

function headerOf (record: CsvRecord | undefined): string[] {
  if (record === undefined) throw noHeader()
  if (record.fields === undefined) throw new ValidationError(`body: the header row is not valid CSV (${record.error})`, [{ field: 'body', message: 'header is not valid CSV' }])
  const names = record.fields.map((n) => n.trim())
  if (!names.includes('userId') && !names.includes('email')) {
    const hint = names.length === 1 && names[0]!.includes(';') ? '; the header has semicolons: add ?delimiter=; (or save the file comma-separated)' : ''
    throw new ValidationError(`body: the header must name a userId or an email column${hint}`, [{ field: 'body', message: 'needs a userId or email column' }])
  }
  const dup = names.find((n, i) => n !== '' && names.indexOf(n) !== i)
  if (dup !== undefined) throw new ValidationError(`body: column ${dup} appears twice`, [{ field: 'body', message: `repeated column ${dup}` }])
  return names
}

/** One record as an import line: an entry for the writer, or the reason its line fails. */
function toLine (record: CsvRecord, header: string[]): ImportLine {
  const line = record.line
  const fail = (message: string): ImportLine => ({ line, message: clipErrorText(message) })
  if (record.fields === undefined) return fail(`not valid CSV: ${record.error}`)
  if (record.fields.length !== header.length) return fail(`expected ${header.length} fields, found ${record.fields.length}`)
  // PostgreSQL text cannot hold NUL.
  if (record.fields.some((f) => f.includes('\u0000'))) return fail('contains a NUL byte')
  const cell = (name: string): string | undefined => {
    const i = header.indexOf(name)
    const v = i < 0 ? undefined : unprefixCell(record.fields![i]!)
    return v === '' ? undefined : v
  }
  const userId = cell('userId')
  const email = cell('email')
  if (userId === undefined && email === undefined) return fail('needs a userId or an email')
  if (userId !== undefined && !UUID.test(userId)) return fail('userId is not a UUID')
  const groups = cell('groups')?.split(';').filter((g) => g !== '')
  // Checked as a POST /members entry with exactly one of userId or email: a userId's user is
  // whoever has it (whatever email sign-in stored for them); the email is its fallback only
  // when it would be valid on its own.
  const fields: Record<string, unknown> = {
    ...(userId !== undefined ? { userId: userId.toLowerCase() } : { email }),
    ...Object.fromEntries((['roleSlug', 'status', 'firstName', 'lastName', 'fullName'] as const).flatMap((c) => (cell(c) !== undefined ? [[c, cell(c)]] : []))),
    ...(groups !== undefined ? { groups } : {})
  }
  const problem = entryProblem(fields)
  if (problem !== null) return fail(problem)
  const entry: WriteEntry = {
    ref: `line ${line}`,
    ...(userId !== undefined ? { userId: userId.toLowerCase() } : {}),
    ...(email !== undefined && (userId === undefined || entryProblem({ email }) === null) ? { email } : {}),
    ...(fields.roleSlug !== undefined ? { roleSlug: fields.roleSlug as string } : {}),
    ...(fields.status !== undefined ? { status: fields.status as WriteEntry['status'] } : {}),
    ...(fields.firstName !== undefined ? { givenName: fields.firstName as string } : {}),
    ...(fields.lastName !== undefined ? { familyName: fields.lastName as string } : {}),
    ...(fields.fullName !== undefined ? { fullName: fields.fullName as string } : {}),
    ...(groups !== undefined ? { groups } : {})
  }
  return { line, entry }
}

async function * importLines (records: AsyncIterable<CsvRecord[]>): AsyncGenerator<ImportLine[]> {
  let header: string[] | null = null
  for await (const batch of records) {
    header ??= headerOf(batch.shift())
    const h = header
    yield batch.map((r) => toLine(r, h))
  }
  if (header === null) throw noHeader()
}

/**
 * Reads and drops what is left of a body the import stopped reading (a failure mid-file), up
 * to the size limit, so the answer can go out on a connection that stays usable. Past the
 * limit, or if the client stops sending, the connection is closed with the answer instead.
 */
async function drain (body: Readable, limit: number): Promise<void> {
  if (body.readableEnded || body.destroyed) return
  let bytes = 0
  await new Promise<void>((resolve) => {
    const done = (): void => { clearTimeout(timer); body.off('data', count); resolve() }
    const count = (chunk: Buffer): void => { bytes += chunk.length; if (bytes > limit) done() }
    const timer = setTimeout(done, 10_000)
    body.on('data', count).once('end', done).once('error', done).once('close', done)
    body.resume()
  })
}

/** A failure of the system (not of a line) during the import: its answer says nothing was written. */
function nothingWritten (err: unknown): unknown {
  if (err instanceof ImportRolledBack || (err instanceof AppError && err.message.endsWith(NOTHING_WRITTEN))) return err
  const mapped = toAppError(err)
  if (mapped === null || (mapped.statusCode < 500 && mapped.statusCode !== 409)) return err
  return new AppError(mapped.statusCode, mapped.kind, `${mapped.message}; the import was rolled back, ${NOTHING_WRITTEN}`, mapped.extra)
}

export const memberImportHandlers = {
  async importOrgMembers (request, reply) {
    const { org, permissions } = await requireOrg(request, request.params.orgSlug, 'orgs:members:manage')
    if (Number(request.headers['content-length'] ?? 0) > IMPORT_MAX_BYTES) {
      throw new PayloadTooLargeError(`A CSV import is at most ${IMPORT_MAX_BYTES} bytes; ${NOTHING_WRITTEN}`)
    }
    const charset = charsetOf(request.headers['content-type'])
    const q = request.query
    const options = {
      dryRun: q.dryRun === true,
      skipExisting: q.skipExisting !== false,
      strict: q.strict === true,
      by: actorUserId(principalOf(request)),
      inviteTtlHours: this.config.INVITE_TTL_HOURS,
      actor: auditActor(request),
      held: permissions
    }
    const body = request.body as unknown as Readable | undefined
    if (typeof body?.iterator !== 'function') throw noHeader()
    const records = csvRecords(bodyText(body, IMPORT_MAX_BYTES, charset), q.delimiter !== undefined ? { delimiter: q.delimiter } : {})
    try {
      const outcome = await importMembers(this.db, org, importLines(records), options)
      this.metrics.importRows(outcome.created, outcome.skipped, outcome.failedCount, options.dryRun)
      return { ...outcome, dryRun: options.dryRun }
    } catch (err) {
      if (!(err instanceof PayloadTooLargeError)) await drain(body, IMPORT_MAX_BYTES)
      if (err instanceof ImportRolledBack) {
        const { failed, failedCount } = err.outcome
        throw new ValidationError(`body: ${failedCount} line${failedCount === 1 ? '' : 's'} failed (strict); ${NOTHING_WRITTEN}`,
          failed.map((f) => ({ field: `body/line/${f.line}`, message: f.message })))
      }
      throw nothingWritten(err)
    }
  }
} satisfies Partial<Handlers>

/** The import's route in its own context: only here does text/csv arrive, as a raw stream. */
export async function memberImportRoutes (app: FastifyInstance): Promise<void> {
  app.addContentTypeParser('text/csv', (_request, payload, done) => { done(null, payload) })
  registerOperations(app, memberImportHandlers)
}
