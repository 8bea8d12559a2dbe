// Applies a member CSV import in ONE transaction, its audit event inside: a database outage,
// a killed process, a client that goes away or a concurrent change that breaks it leaves
// nothing written. Lines go through the one membership writer (writeMembers, as POST
// /members) in batches, as they are read; a bad line fails alone (the rest is applied), or,
// strict, aborts the whole file. Users met in earlier batches are remembered in a temporary
// table, not in memory, so a 50 MiB file takes no more memory than a small one.
import { sql, type Kysely } from 'kysely'
import type { Database, Organization } from './schema.ts'
import { recordAudit, type AuditActor } from './audit.ts'
import { emitEvents } from './events.ts'
import { roleSlugs, writeMembers, type WriteEntry } from './member-writes.ts'

/** An import line: an entry to write, or the reason it fails without touching the database. */
export type ImportLine = { line: number, entry: WriteEntry } | { line: number, message: string }

export interface ImportOptions {
  dryRun: boolean
  skipExisting: boolean
  strict: boolean
  /** The importing user (null for an API key), written as invitedBy/createdBy. */
  by: string | null
  inviteTtlHours: number
  actor: AuditActor
  /** The caller's held set: a line giving a role above it fails (the privilege ceiling). */
  held: readonly string[]
}

export interface ImportOutcome {
  created: number
  skipped: number
  /** The first `listed` failures, in line order. */
  failed: Array<{ line: number, message: string }>
  failedCount: number
}

/** Lines per writer call. */
export const IMPORT_BATCH = 1000
/** Failed lines listed; `failedCount` has them all. */
export const MAX_FAILED_LISTED = 1000

/** Thrown to roll back a dry run or a strict import with bad lines; carries the outcome. */
export class ImportRolledBack extends Error {
  constructor (readonly outcome: ImportOutcome, readonly reason: 'dryRun' | 'strict') { super(reason) }
}

export async function importMembers (db: Kysely<Database>, org: Organization, lines: AsyncIterable<ImportLine[]>, options: ImportOptions): Promise<ImportOutcome> {
  const outcome: ImportOutcome = { created: 0, skipped: 0, failed: [], failedCount: 0 }
  const fail = (line: number, message: string): void => {
    outcome.failedCount++
    if (outcome.failed.length < MAX_FAILED_LISTED) outcome.failed.push({ line, message })
  }
  try {
    await db.transaction().execute(async (trx) => {
      await sql`create temporary table import_seen (user_id uuid primary key, ref text not null) on commit drop`.execute(trx)
      const rolesAtStart = await roleSlugs(trx, org.id)
      const seenBefore = async (users: Array<{ userId: string, ref: string }>): Promise<Map<string, string>> => {
        const added = new Set((await sql<{ user_id: string }>`insert into import_seen (user_id, ref)
          select * from unnest(${users.map((u) => u.userId)}::uuid[], ${users.map((u) => u.ref)}::text[])
          on conflict do nothing returning user_id`.execute(trx)).rows.map((r) => r.user_id))
        const again = users.filter((u) => !added.has(u.userId)).map((u) => u.userId)
        if (again.length === 0) return new Map()
        return new Map((await sql<{ user_id: string, ref: string }>`select user_id, ref from import_seen where user_id = any(${again}::uuid[])`.execute(trx)).rows
          .map((r) => [r.user_id, r.ref]))
      }
      const write = async (batch: Array<{ line: number, entry: WriteEntry }>): Promise<void> => {
        if (batch.length === 0) return
        const result = await writeMembers(trx, org, batch.map((b) => b.entry), { invitedBy: options.by, inviteTtlHours: options.inviteTtlHours, inviteTokens: false, seenBefore, rolesAtStart, held: options.held, refuseUncovered: false })
        await emitEvents(trx, options.actor, org, result.events)
        outcome.created += result.created.length
        for (const e of result.existing) {
          if (options.skipExisting) outcome.skipped++
          else fail(batch[e.index]!.line, 'already a member')
        }
        for (const f of result.failed) fail(batch[f.index]!.line, f.field === '' ? f.message : `${f.field.slice(1)} ${f.message}`)
      }
      // The next batch is read and checked while the database writes the last one: one write
      // in flight and one batch filling, so memory stays bounded and both cores work.
      let writing: Promise<void> = Promise.resolve()
      const next = async (ready: Array<{ line: number, entry: WriteEntry }>): Promise<void> => {
        await writing
        writing = write(ready)
        // Rejections surface at the next await of `writing`; none goes unhandled meanwhile.
        writing.catch(() => {})
      }
      let batch: Array<{ line: number, entry: WriteEntry }> = []
      for await (const part of lines) {
        for (const l of part) {
          if ('message' in l) fail(l.line, l.message)
          else batch.push(l)
        }
        if (batch.length >= IMPORT_BATCH) { await next(batch); batch = [] }
      }
      await next(batch)
      await writing
      outcome.failed.sort((a, b) => a.line - b.line)
      if (options.strict && outcome.failedCount > 0) throw new ImportRolledBack(outcome, 'strict')
      if (options.dryRun) throw new ImportRolledBack(outcome, 'dryRun')
      const imported = { created: outcome.created, skipped: outcome.skipped, failed: outcome.failedCount, skipExisting: options.skipExisting }
      await recordAudit(trx, options.actor, { orgId: org.id, action: 'members.imported', targetType: 'organization', targetId: org.id, metadata: imported })
      await emitEvents(trx, options.actor, org, [{ type: 'members.imported', data: imported }])
    })
  } catch (err) {
    if (err instanceof ImportRolledBack && err.reason === 'dryRun') return err.outcome
    throw err
  }
  return outcome
}
