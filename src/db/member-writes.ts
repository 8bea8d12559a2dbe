// Adding, changing and removing memberships. Each call is one transaction with its audit event.
import { createHash, randomBytes } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Database, Organization } from './schema.ts'
import { recordAudit, type AuditActor } from './audit.ts'
import { emitEvents, type EventInput } from './events.ts'
import { groupsOfUsers, MEMBER_COLUMNS, type MemberRow } from './members.ts'
import { rolePermissions } from './roles.ts'
import { ConflictError, ValidationError } from '../lib/errors.ts'
import { assertCovered } from '../lib/privilege.ts'
import { toMembership } from '../lib/representations.ts'

export interface AddEntry { userId?: string, email?: string, roleSlug?: string, groups?: string[] }
export interface AddOptions {
  skipExisting: boolean
  invitedBy: string | null
  inviteTtlHours: number
  /** The caller's held set: every role given must be covered by it. */
  held: readonly string[]
}
export interface AddedMember { userId: string, member: MemberRow, groups: string[], inviteToken?: string }

// Rows per INSERT: well under PostgreSQL's 65,535 bind parameters at 16 columns a row.
const CHUNK = 2000

function chunks<T> (items: T[]): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK))
  return out
}

const invalid = (index: number, field: string, message: string) =>
  new ValidationError(`body/users/${index}${field} ${message}`, [{ field: `body/users/${index}${field}`, message }])

export function hashInviteToken (token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** Checks what needs no database: one of userId/email each, no duplicates. */
export function checkEntries (entries: AddEntry[]): void {
  const seen = new Map<string, number>()
  entries.forEach((e, i) => {
    if ((e.userId === undefined) === (e.email === undefined)) throw invalid(i, '', 'must have exactly one of userId or email')
    const key = e.userId !== undefined ? `id:${e.userId.toLowerCase()}` : `email:${(e.email as string).toLowerCase()}`
    const first = seen.get(key)
    if (first !== undefined) throw invalid(i, '', `duplicates entry ${first}`)
    seen.set(key, i)
  })
}

export async function addMembers (db: Kysely<Database>, org: Organization, entries: AddEntry[], options: AddOptions, actor: AuditActor): Promise<AddedMember[]> {
  checkEntries(entries)
  return await db.transaction().execute(async (trx) => {
    // Every role given, the default one included, must exist and be covered by the caller's
    // held set (a deleted default role makes the memberships' foreign key refuse the insert: 409).
    const slugs = [...new Set(entries.map((e) => e.roleSlug ?? org.default_role))]
    const roles = await rolePermissions(trx, org.id, slugs)
    entries.forEach((e, i) => { if (e.roleSlug !== undefined && !roles.has(e.roleSlug)) throw invalid(i, '/roleSlug', `role ${e.roleSlug} does not exist in this organization`) })
    for (const slug of slugs) assertCovered(options.held, roles.get(slug) ?? [], `Role ${slug}`)

    // Resolve every entry to a user; unknown emails become pending users.
    const ids = entries.flatMap((e) => (e.userId ? [e.userId] : []))
    const known = new Map((ids.length > 0 ? await trx.selectFrom('users').select(['id', 'sub', 'email']).where('id', 'in', ids).execute() : []).map((u) => [u.id, u]))
    const emails = [...new Set(entries.flatMap((e) => (e.email ? [e.email.toLowerCase()] : [])))].sort()
    const byEmail = new Map<string, { id: string, sub: string | null, email: string | null }>()
    const remember = (u: { id: string, sub: string | null, email: string | null }) => byEmail.set((u.email as string).toLowerCase(), u)
    for (const part of chunks(emails)) {
      const made = await trx.insertInto('users').values(part.map((email) => ({ email, status: 'pending' as const })))
        .onConflict((oc) => oc.expression(sql`lower(email)`).doNothing()).returning(['id', 'sub', 'email']).execute()
      made.forEach(remember)
      // Those that existed (or that a concurrent add just committed) are read in a new statement.
      const existed = made.length === part.length ? [] : part.filter((email) => !byEmail.has(email))
      if (existed.length > 0) (await trx.selectFrom('users').select(['id', 'sub', 'email']).where(sql<string>`lower(email)`, 'in', existed).execute()).forEach(remember)
    }
    const resolved = entries.map((e, i) => {
      const user = e.userId !== undefined ? known.get(e.userId) : byEmail.get((e.email as string).toLowerCase())
      if (!user) throw invalid(i, '/userId', 'is not a known user')
      return { index: i, entry: e, user }
    })
    const firstIndex = new Map<string, number>()
    for (const r of resolved) {
      const first = firstIndex.get(r.user.id)
      if (first !== undefined) throw invalid(r.index, '', `is the same user as entry ${first}`)
      firstIndex.set(r.user.id, r.index)
    }

    // Existing members are found by the insert itself (ON CONFLICT DO NOTHING returns only new
    // rows); without skipExisting, they make it a 409 and the transaction writes nothing.
    // Sorted by user id so concurrent overlapping adds take row locks in one order (no deadlock).
    const toAdd = [...resolved].sort((a, b) => (a.user.id < b.user.id ? -1 : 1))
    const tokens = new Map<string, string>()
    const members = new Map<string, MemberRow>()
    for (const part of chunks(toAdd)) {
      const rows = part.map((r) => {
        const pending = r.user.sub === null
        const token = pending ? randomBytes(32).toString('base64url') : null
        if (token) tokens.set(r.user.id, token)
        return {
          org_id: org.id,
          user_id: r.user.id,
          role_slug: r.entry.roleSlug ?? org.default_role,
          status: pending ? 'invited' as const : 'active' as const,
          invited_by: pending ? options.invitedBy : null,
          invited_at: pending ? sql<string>`now()` as any : null,
          invite_email: pending ? r.user.email : null,
          invite_token_hash: token ? hashInviteToken(token) : null,
          invite_expires_at: pending ? sql<string>`now() + make_interval(hours => ${options.inviteTtlHours})` as any : null,
          joined_at: pending ? null : sql<string>`now()` as any,
          joined_via: pending ? 'invite-email' as const : 'direct' as const,
          created_by: options.invitedBy,
          updated_by: options.invitedBy
        }
      })
      // Inserted and read back with their users in one statement, inside the transaction: once it
      // commits, a concurrent removal may delete them.
      const inserted = await trx.with('m', (db) => db.insertInto('org_memberships').values(rows)
        .onConflict((oc) => oc.columns(['org_id', 'user_id']).doNothing()).returningAll())
        .selectFrom('m').innerJoin('users as u', 'u.id', 'm.user_id').select(MEMBER_COLUMNS).execute()
      for (const member of inserted) members.set(member.userId, member)
    }
    const created = [...members.keys()]
    if (created.length < toAdd.length && !options.skipExisting) {
      const conflicts = resolved.filter((r) => !members.has(r.user.id))
      throw new ConflictError(`${conflicts.length} of these users are already members`,
        conflicts.map((c) => ({ index: c.index, userId: c.user.id, ...(c.user.email ? { email: c.user.email } : {}) })))
    }
    await addToGroups(trx, org.id, toAdd.filter((r) => members.has(r.user.id)).flatMap((r) => (r.entry.groups ?? []).map((g) => ({ userId: r.user.id, group: g }))), options.invitedBy)
    await recordAudit(trx, actor, {
      orgId: org.id,
      action: 'members.added',
      targetType: 'membership',
      metadata: { created: created.length, skipped: resolved.length - created.length, invited: [...tokens.keys()].filter((id) => members.has(id)).length, userIds: created.slice(0, 100) }
    })
    // A membership made here has only the groups this request gave it (removals take groups along).
    const groups = toAdd.some((r) => (r.entry.groups?.length ?? 0) > 0) ? await groupsOfUsers(trx, org.id, created) : new Map<string, string[]>()
    const order = new Map(resolved.map((r) => [r.user.id, r.index]))
    const added = created.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0)).map((userId) => ({
      userId, member: members.get(userId) as MemberRow, groups: groups.get(userId) ?? [], ...(tokens.has(userId) ? { inviteToken: tokens.get(userId) } : {})
    }))
    await emitEvents(trx, actor, org, added.map((a) => membershipCreated(org.slug, a.member, a.groups)))
    return added
  })
}

/** The event of a new membership: an invitation when the person has not signed in yet. */
export function membershipCreated (orgSlug: string, member: MemberRow, groups: string[]): EventInput {
  return { type: member.status === 'invited' ? 'invitation.created' : 'membership.created', data: toMembership(orgSlug, member, { groups }) }
}

/** Puts users in groups, creating missing groups; existing group memberships are kept. */
export async function addToGroups (db: Kysely<Database>, orgId: string, pairs: Array<{ userId: string, group: string }>, by: string | null): Promise<void> {
  if (pairs.length === 0) return
  const slugs = [...new Set(pairs.map((p) => p.group))].sort()
  await db.insertInto('org_groups').values(slugs.map((slug) => ({ org_id: orgId, slug, name: slug, created_by: by })))
    .onConflict((oc) => oc.columns(['org_id', 'slug']).doNothing()).execute()
  const groups = new Map((await db.selectFrom('org_groups').select(['id', 'slug']).where('org_id', '=', orgId).where('slug', 'in', slugs).execute()).map((g) => [g.slug, g.id]))
  const rows = pairs.map((p) => ({ group_id: groups.get(p.group) as string, org_id: orgId, user_id: p.userId, created_by: by }))
    .sort((a, b) => (a.group_id + a.user_id < b.group_id + b.user_id ? -1 : 1))
  for (const part of chunks(rows)) {
    await db.insertInto('org_group_members').values(part).onConflict((oc) => oc.columns(['group_id', 'user_id']).doNothing()).execute()
  }
}
