// Applies one batch (up to 1,000 rows) of a member CSV import in one transaction, with
// skipExisting semantics: rows whose user is already a member are skipped, never changed.
// Users are found by userId, else by email; an unknown email becomes a pending user (named from
// the file) with an invitation. Unlike a JSON add, the file's `status` is kept (an exported
// suspended or invited member comes back suspended or invited), so export → import → export
// round-trips (userId, email, roleSlug, status, groups).
//
// Groups go through the bulk add's addToGroups. The membership insert is the import's own:
// addMembers (POST /members) opens its own transaction (a dry run must roll back the batch),
// throws on the first bad entry (the import fails lines, not batches), has no per-row status
// and lowercases new emails. A core of addMembers taking a transaction and a status would let
// this batch call it.
import { sql, type Kysely } from 'kysely'
import type { Database, MembershipStatus, Organization } from './schema.ts'
import { addToGroups, membershipCreated } from './member-writes.ts'
import { groupsOfUsers, MEMBER_COLUMNS } from './members.ts'
import { emitEvents } from './events.ts'
import type { AuditActor } from './audit.ts'

export interface ImportRow {
  line: number
  userId?: string
  email?: string
  roleSlug: string
  status?: MembershipStatus
  groups: string[]
  givenName?: string
  familyName?: string
  fullName?: string
}

export interface ImportOptions {
  dryRun: boolean
  skipExisting: boolean
  /** The importing user (null for an API key), written as invitedBy/createdBy. */
  by: string | null
  inviteTtlHours: number
  /** Users already imported from this file, with their line (duplicates fail). */
  seen: Map<string, number>
}

export interface ImportOutcome {
  created: number
  skipped: number
  failed: Array<{ line: number, message: string }>
}

interface UserRef { id: string, sub: string | null, email: string | null }

class DryRun extends Error { constructor (readonly outcome: ImportOutcome) { super('dry run') } }

async function resolveUsers (trx: Kysely<Database>, rows: ImportRow[], failed: ImportOutcome['failed']): Promise<Map<ImportRow, UserRef>> {
  const byId = new Map<string, UserRef>()
  const ids = [...new Set(rows.flatMap((r) => (r.userId !== undefined ? [r.userId] : [])))]
  if (ids.length > 0) for (const u of await trx.selectFrom('users').select(['id', 'sub', 'email']).where('id', 'in', ids).execute()) byId.set(u.id, u)
  const resolved = new Map<ImportRow, UserRef>()
  const byEmail: ImportRow[] = []
  for (const r of rows) {
    const user = r.userId !== undefined ? byId.get(r.userId) : undefined
    if (user !== undefined) resolved.set(r, user)
    else if (r.email !== undefined) byEmail.push(r)
    else failed.push({ line: r.line, message: `userId ${r.userId ?? ''} is not a known user` })
  }
  if (byEmail.length === 0) return resolved
  const lookup = async (): Promise<Map<string, UserRef>> => new Map((await trx.selectFrom('users').select(['id', 'sub', 'email'])
    .where(sql<string>`lower(email)`, 'in', [...new Set(byEmail.map((r) => r.email!.toLowerCase()))]).execute())
    .map((u) => [u.email!.toLowerCase(), u]))
  let emails = await lookup()
  const missing = new Map<string, ImportRow>()
  for (const r of byEmail) if (!emails.has(r.email!.toLowerCase()) && !missing.has(r.email!.toLowerCase())) missing.set(r.email!.toLowerCase(), r)
  if (missing.size > 0) {
    await trx.insertInto('users').values([...missing.values()].map((r) => ({
      email: r.email!, status: 'pending' as const, given_name: r.givenName ?? null, family_name: r.familyName ?? null, full_name: r.fullName ?? null
    }))).onConflict((oc) => oc.expression(sql`lower(email)`).doNothing()).execute()
    emails = await lookup()
  }
  for (const r of byEmail) resolved.set(r, emails.get(r.email!.toLowerCase())!)
  return resolved
}

function membershipValues (orgId: string, r: ImportRow, user: UserRef, options: ImportOptions) {
  const status: MembershipStatus = r.status ?? (user.sub === null ? 'invited' : 'active')
  const now = sql<string>`now()` as any
  const invited = status === 'invited'
  return {
    org_id: orgId,
    user_id: user.id,
    role_slug: r.roleSlug,
    status,
    invited_by: invited ? options.by : null,
    invited_at: invited ? now : null,
    invite_email: invited ? user.email : null,
    invite_expires_at: invited ? sql<string>`now() + make_interval(hours => ${options.inviteTtlHours})` as any : null,
    joined_at: invited ? null : now,
    joined_via: invited ? 'invite-email' as const : 'direct' as const,
    deactivated_at: status === 'suspended' ? now : null,
    created_by: options.by,
    updated_by: options.by
  }
}

/** Applies the rows in one transaction (rolled back for a dry run); returns what happened. */
export async function importMemberBatch (db: Kysely<Database>, org: Organization, rows: ImportRow[], options: ImportOptions, actor: AuditActor): Promise<ImportOutcome> {
  if (rows.length === 0) return { created: 0, skipped: 0, failed: [] }
  try {
    return await db.transaction().execute(async (trx) => {
      const failed: ImportOutcome['failed'] = []
      const resolved = await resolveUsers(trx, rows, failed)
      const candidates: Array<{ row: ImportRow, user: UserRef }> = []
      for (const [row, user] of resolved) {
        const first = options.seen.get(user.id)
        if (first !== undefined) { failed.push({ line: row.line, message: `same user as line ${first}` }); continue }
        options.seen.set(user.id, row.line)
        candidates.push({ row, user })
      }
      const existing = candidates.length === 0
        ? new Set<string>()
        : new Set((await trx.selectFrom('org_memberships').select('user_id').where('org_id', '=', org.id)
          .where('user_id', 'in', candidates.map((c) => c.user.id)).execute()).map((m) => m.user_id))
      let skipped = 0
      const toAdd = candidates.filter((c) => {
        if (!existing.has(c.user.id)) return true
        if (options.skipExisting) skipped++
        else failed.push({ line: c.row.line, message: 'already a member' })
        return false
      }).sort((a, b) => (a.user.id < b.user.id ? -1 : 1)) // one lock order for concurrent imports
      const inserted = toAdd.length === 0
        ? []
        : await trx.with('m', (db) => db.insertInto('org_memberships').values(toAdd.map((c) => membershipValues(org.id, c.row, c.user, options)))
          .onConflict((oc) => oc.columns(['org_id', 'user_id']).doNothing()).returningAll())
          .selectFrom('m').innerJoin('users as u', 'u.id', 'm.user_id').select(MEMBER_COLUMNS).execute()
      const created = new Set(inserted.map((r) => r.userId))
      skipped += toAdd.length - created.size // added concurrently since our check
      await addToGroups(trx, org.id, toAdd.filter((c) => created.has(c.user.id)).flatMap((c) => c.row.groups.map((group) => ({ userId: c.user.id, group }))), options.by)
      const outcome = { created: created.size, skipped, failed: failed.sort((a, b) => a.line - b.line) }
      if (options.dryRun) throw new DryRun(outcome)
      const groups = toAdd.some((c) => c.row.groups.length > 0) ? await groupsOfUsers(trx, org.id, [...created]) : new Map<string, string[]>()
      await emitEvents(trx, actor, org, inserted.map((m) => membershipCreated(org.slug, m, groups.get(m.userId) ?? [])))
      return outcome
    })
  } catch (err) {
    if (err instanceof DryRun) return err.outcome
    throw err
  }
}
