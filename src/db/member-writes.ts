// Writing memberships: the one writer (POST /members and the CSV import) and the bulk add.
import { createHash, randomBytes } from 'node:crypto'
import { sql, type Kysely, type QueryCreator, type RawBuilder } from 'kysely'
import type { Database, MembershipStatus, Organization } from './schema.ts'
import type { AuditActor } from './audit.ts'
import { emitEvents, type EventInput } from './events.ts'
import { anyOf } from './arrays.ts'
import { preparedStatement } from './prepared.ts'
import { addToGroups, groupCreated, groupMembershipChanged } from './groups.ts'
import { fieldNames, groupsOfUsers, MEMBER_USER_FIELDS, MEMBERSHIP_FIELDS, qualified, type MemberRow } from './members.ts'
import { rolePermissions } from './roles.ts'
import { ConflictError, ValidationError } from '../lib/errors.ts'
import { assertCovered, firstUncovered, uncoveredMessage } from '../lib/privilege.ts'
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

/**
 * One membership to write (POST /members entry, or an import line). `email` with `userId` is
 * the fallback when no user has that id (an import line carries both).
 */
export interface WriteEntry extends AddEntry {
  /** How messages name this entry: `entry 3`, `line 7`. */
  ref: string
  /** Kept as given (an import keeps an exported status); default invited for pending users, else active. */
  status?: MembershipStatus
  /** Names for a pending user this entry creates. */
  givenName?: string
  familyName?: string
  fullName?: string
}

export interface WriteOptions {
  invitedBy: string | null
  inviteTtlHours: number
  /** The caller's held set: every role given must be covered by it (the privilege ceiling). */
  held: readonly string[]
  /** A role above the caller is a 403 for the whole call (POST /members), else that entry fails. */
  refuseUncovered: boolean
  /** Invitations get a token, returned once (POST /members); an import's are resent later. */
  inviteTokens: boolean
  /**
   * Users this call's entries met in earlier calls of the same write (an import's earlier
   * batches), by user id, with the ref of that entry; given the users of this call.
   */
  seenBefore?: (users: Array<{ userId: string, ref: string }>) => Promise<Map<string, string>>
  /**
   * The org's roles when the write began (an import spans many calls): one of them gone now was
   * deleted by a concurrent request, a conflict for the whole write rather than a bad entry.
   */
  rolesAtStart?: Set<string>
}

export interface WriteOutcome {
  /** Entries written, in entry order, with the groups they are in now. */
  created: Array<{ index: number, userId: string, member: MemberRow, groups: string[], inviteToken?: string }>
  /** Entries whose user was already a member (nothing written for them). */
  existing: Array<{ index: number, userId: string, email: string | null }>
  /** Entries refused, in entry order: `field` is relative to the entry ('' for the entry itself). */
  failed: Array<{ index: number, field: string, message: string }>
  /** The write's events, in causal order, for the caller to emit (with its audit entry, on the add). */
  events: EventInput[]
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

// The writer's statements are prepared (every add and import batch runs them): each takes its
// rows as one array per column (unnest), so its shape is the same whatever the row count. A
// user is read with the fields its MemberRow carries, so the membership insert needs no join
// (a join's generic plan costs more than a custom one, so PostgreSQL would plan it every time).
const USER_FIELDS = ['id', 'sub', ...MEMBER_USER_FIELDS] as const
const usersById = preparedStatement((db, ids: string[]) =>
  db.selectFrom('users').select(USER_FIELDS).where('id', '=', anyOf(ids, 'uuid')))
const usersByEmail = preparedStatement((db, emails: string[]) =>
  db.selectFrom('users').select(USER_FIELDS).where(sql<string>`lower(email)`, '=', anyOf(emails, 'text')))

/** Inserts the memberships `rows` yields, a FROM item v(user_id, role_slug, status, email, token_hash, n), in n order. */
function membershipInsert (db: Pick<QueryCreator<Database>, 'insertInto'>, orgId: string, invitedBy: string | null, inviteTtlHours: number, rows: RawBuilder<unknown>) {
  return db.insertInto('org_memberships')
    .columns(['org_id', 'user_id', 'role_slug', 'status', 'invited_by', 'invited_at', 'invite_email', 'invite_token_hash',
      'invite_expires_at', 'joined_at', 'joined_via', 'deactivated_at', 'created_by', 'updated_by'])
    .expression(sql`select ${orgId}::uuid, v.user_id, v.role_slug, v.status,
        case when v.status = 'invited' then p.by end,
        case when v.status = 'invited' then now() end,
        case when v.status = 'invited' then v.email end,
        v.token_hash,
        case when v.status = 'invited' then now() + make_interval(hours => ${inviteTtlHours}) end,
        case when v.status <> 'invited' then now() end,
        case when v.status = 'invited' then 'invite-email' else 'direct' end,
        case when v.status = 'suspended' then now() end,
        p.by, p.by
      from ${rows}, (select ${invitedBy}::uuid as by) as p
      order by v.n`)
    .onConflict((oc) => oc.columns(['org_id', 'user_id']).doNothing())
    .returning(MEMBERSHIP_FIELDS)
}

const insertMemberships = preparedStatement((db, orgId: string, invitedBy: string | null, inviteTtlHours: number,
  userIds: string[], roleSlugs: string[], statuses: string[], emails: Array<string | null>, tokenHashes: Array<string | null>) =>
  membershipInsert(db, orgId, invitedBy, inviteTtlHours, sql`unnest(${userIds}::uuid[], ${roleSlugs}::text[], ${statuses}::text[], ${emails}::text[], ${tokenHashes}::text[])
    with ordinality as v(user_id, role_slug, status, email, token_hash, n)`))

interface PendingEntry { email: string, given_name: string | null, family_name: string | null, full_name: string | null, role_slug: string, status: string, token_hash: string | null, n: number }

// People added by an email no user has yet: their pending users and their memberships in one
// statement. An email that has a user (or that a concurrent add just gave one) makes no row.
const pendingMembers = preparedStatement((db, orgId: string, invitedBy: string | null, inviteTtlHours: number, emails: string[],
  givenNames: Array<string | null>, familyNames: Array<string | null>, fullNames: Array<string | null>,
  roleSlugs: string[], statuses: string[], tokenHashes: Array<string | null>) =>
  db.with('e', () => sql<PendingEntry>`(select email, given_name, family_name, full_name, role_slug, status, token_hash, n
      from unnest(${emails}::text[], ${givenNames}::text[], ${familyNames}::text[], ${fullNames}::text[], ${roleSlugs}::text[], ${statuses}::text[], ${tokenHashes}::text[])
      with ordinality as e(email, given_name, family_name, full_name, role_slug, status, token_hash, n))`)
    .with('u', (db) => db.insertInto('users').columns(['email', 'status', 'given_name', 'family_name', 'full_name'])
      .expression(sql`select e.email, 'pending', e.given_name, e.family_name, e.full_name from e order by e.n`)
      .onConflict((oc) => oc.expression(sql`lower(email)`).doNothing()).returning(USER_FIELDS))
    .with('m', (db) => membershipInsert(db, orgId, invitedBy, inviteTtlHours,
      sql`(select u.id as user_id, e.role_slug, e.status, u.email, e.token_hash, e.n from u join e on e.email = u.email) as v`))
    .selectFrom('m').innerJoin('u', 'u.id', 'm.userId')
    .select([...qualified('m', fieldNames(MEMBERSHIP_FIELDS)), 'u.sub', ...qualified('u', fieldNames(MEMBER_USER_FIELDS))]))

type User = Awaited<ReturnType<typeof usersById.execute>>[number]
interface UserRef { id: string, sub: string | null, email: string | null }

export async function roleSlugs (db: Kysely<Database>, orgId: string): Promise<Set<string>> {
  return new Set((await db.selectFrom('org_roles').select('slug').where('org_id', '=', orgId).execute()).map((r) => r.slug))
}

/**
 * The one membership writer (POST /members and the CSV import), inside the caller's
 * transaction, for up to a few thousand entries: roles checked, users resolved (unknown
 * emails become pending users, lowercased), one membership per user, invitations for pending
 * users, groups created when missing, and their events. An entry that cannot be written is
 * reported in `failed` and writes nothing; the caller decides whether that fails the whole call.
 */
export async function writeMembers (trx: Kysely<Database>, org: Organization, entries: WriteEntry[], options: WriteOptions): Promise<WriteOutcome> {
  const failed: WriteOutcome['failed'] = []
  const live = new Set(entries.keys())
  const fail = (index: number, field: string, message: string): void => { failed.push({ index, field, message }); live.delete(index) }
  // Every role given, the default one included, must exist and be covered by the caller's held
  // set (a deleted default role makes the memberships' foreign key refuse the insert: 409).
  const slugs = [...new Set(entries.map((e) => e.roleSlug ?? org.default_role))]
  const roles = await rolePermissions(trx, org.id, slugs)
  entries.forEach((e, i) => {
    const slug = e.roleSlug ?? org.default_role
    if (roles.has(slug) || e.roleSlug === undefined) return
    if (options.rolesAtStart?.has(slug) === true) throw new ConflictError(`Role ${slug} was deleted while this request ran`)
    fail(i, '/roleSlug', `role ${e.roleSlug} does not exist in this organization`)
  })
  if (options.refuseUncovered) for (const slug of slugs) assertCovered(options.held, roles.get(slug) ?? [], `Role ${slug}`)
  entries.forEach((e, i) => {
    const slug = e.roleSlug ?? org.default_role
    const missing = live.has(i) ? firstUncovered(options.held, roles.get(slug) ?? []) : undefined
    if (missing !== undefined) fail(i, '', uncoveredMessage(`Role ${slug}`, missing))
  })

  // Resolve every entry to a user. Unknown emails become pending users, written with their
  // memberships by one statement; the rest get theirs below.
  const ids = [...new Set(entries.flatMap((e, i) => (live.has(i) && e.userId !== undefined ? [e.userId.toLowerCase()] : [])))]
  const known = new Map<string, User>((ids.length > 0 ? await usersById.execute(trx, ids) : []).map((u) => [u.id, u]))
  const byId = (e: WriteEntry): UserRef | undefined => (e.userId !== undefined ? known.get(e.userId.toLowerCase()) : undefined)
  const byEmailEntries = new Map<string, WriteEntry>()
  entries.forEach((e, i) => {
    if (live.has(i) && e.email !== undefined && byId(e) === undefined && !byEmailEntries.has(e.email.toLowerCase())) byEmailEntries.set(e.email.toLowerCase(), e)
  })
  const emails = [...byEmailEntries.keys()].sort()
  const byEmail = new Map<string, UserRef>()
  const remember = (u: UserRef) => byEmail.set((u.email as string).toLowerCase(), u)
  // An invitation gets a token when the call hands them out (the add does; an import's are resent later).
  const inviteToken = (status: string): string | null => (status === 'invited' && options.inviteTokens ? randomBytes(32).toString('base64url') : null)
  const tokens = new Map<string, string>()
  const madeWithUser = new Map<string, MemberRow>()
  if (emails.length > 0) {
    const first = (email: string) => byEmailEntries.get(email)!
    const status = (email: string) => first(email).status ?? 'invited'
    const tokenOf = new Map(emails.flatMap((email) => { const token = inviteToken(status(email)); return token === null ? [] : [[email, token] as const] }))
    const made = await pendingMembers.execute(trx, org.id, options.invitedBy, options.inviteTtlHours, emails,
      emails.map((email) => first(email).givenName ?? null), emails.map((email) => first(email).familyName ?? null), emails.map((email) => first(email).fullName ?? null),
      emails.map((email) => first(email).roleSlug ?? org.default_role), emails.map(status), emails.map((email) => (tokenOf.has(email) ? hashInviteToken(tokenOf.get(email)!) : null)))
    for (const { sub, ...member } of made) {
      remember({ id: member.userId, sub, email: member.email })
      madeWithUser.set(member.userId, member)
      const token = tokenOf.get(member.email as string)
      if (token !== undefined) tokens.set(member.userId, token)
    }
    // Those that existed (or that a concurrent add just committed) are read in a new statement.
    const existed = made.length === emails.length ? [] : emails.filter((email) => !byEmail.has(email))
    if (existed.length > 0) {
      for (const u of await usersByEmail.execute(trx, existed)) { known.set(u.id, u); remember(u) }
    }
  }
  const resolved: Array<{ index: number, entry: WriteEntry, user: UserRef }> = []
  const firstRef = new Map<string, string>()
  entries.forEach((entry, index) => {
    if (!live.has(index)) return
    const user = byId(entry) ?? (entry.email !== undefined ? byEmail.get(entry.email.toLowerCase()) : undefined)
    if (user === undefined) { fail(index, '/userId', 'is not a known user'); return }
    const first = firstRef.get(user.id)
    if (first !== undefined) { fail(index, '', `is the same user as ${first}`); return }
    firstRef.set(user.id, entry.ref)
    resolved.push({ index, entry, user })
  })
  const before = options.seenBefore !== undefined && resolved.length > 0
    ? await options.seenBefore(resolved.map((r) => ({ userId: r.user.id, ref: r.entry.ref })))
    : new Map<string, string>()
  const fresh = resolved.filter((r) => {
    const first = before.get(r.user.id)
    if (first !== undefined) fail(r.index, '', `is the same user as ${first}`)
    return first === undefined
  })

  // The others' memberships: existing members are found by the insert itself (ON CONFLICT DO
  // NOTHING returns only new rows). Sorted by user id so concurrent overlapping writes take row
  // locks in one order.
  const toAdd = fresh.filter((r) => !madeWithUser.has(r.user.id)).sort((a, b) => (a.user.id < b.user.id ? -1 : 1))
  const rows = toAdd.map((r) => {
    const status = r.entry.status ?? (r.user.sub === null ? 'invited' : 'active')
    const token = inviteToken(status)
    if (token) tokens.set(r.user.id, token)
    return { userId: r.user.id, roleSlug: r.entry.roleSlug ?? org.default_role, status, email: r.user.email, tokenHash: token ? hashInviteToken(token) : null }
  })
  const column = <T>(pick: (row: typeof rows[number]) => T) => rows.map(pick)
  const inserted = rows.length === 0
    ? []
    : await insertMemberships.execute(trx, org.id, options.invitedBy, options.inviteTtlHours,
      column((r) => r.userId), column((r) => r.roleSlug), column((r) => r.status), column((r) => r.email), column((r) => r.tokenHash))
  // With their users as read above, in this transaction: once it commits, a concurrent removal
  // may delete them.
  const members = new Map(madeWithUser)
  for (const membership of inserted) {
    const { id: _id, sub: _sub, ...user } = known.get(membership.userId)!
    members.set(membership.userId, { ...membership, ...user })
  }
  const written = fresh.filter((r) => members.has(r.user.id))
  const grouped = await addToGroups(trx, org.id, written.flatMap((r) => (r.entry.groups ?? []).map((g) => ({ userId: r.user.id, group: g }))), options.invitedBy)
  // A membership made here has only the groups this call gave it (removals take groups along).
  const groups = written.some((r) => (r.entry.groups?.length ?? 0) > 0) ? await groupsOfUsers(trx, org.id, written.map((r) => r.user.id)) : new Map<string, string[]>()
  const byIndex = (a: { index: number }, b: { index: number }) => a.index - b.index
  return {
    created: written.map((r) => ({
      index: r.index, userId: r.user.id, member: members.get(r.user.id)!, groups: groups.get(r.user.id) ?? [], ...(tokens.has(r.user.id) ? { inviteToken: tokens.get(r.user.id) } : {})
    })),
    existing: fresh.filter((r) => !members.has(r.user.id)).map((r) => ({ index: r.index, userId: r.user.id, email: r.user.email })),
    failed: failed.sort(byIndex),
    // In causal order: the groups this write created, the memberships, then who joined which group.
    events: [
      ...grouped.created.map((g) => groupCreated(org.slug, g)),
      ...written.map((r) => membershipCreated(org.slug, members.get(r.user.id)!, groups.get(r.user.id) ?? [])),
      ...grouped.added.map((p) => groupMembershipChanged('group_membership.added', org.slug, p))
    ]
  }
}

export async function addMembers (db: Kysely<Database>, org: Organization, entries: AddEntry[], options: AddOptions, actor: AuditActor): Promise<AddedMember[]> {
  checkEntries(entries)
  return await db.transaction().execute(async (trx) => {
    const outcome = await writeMembers(trx, org, entries.map((e, i) => ({ ...e, ref: `entry ${i}` })),
      { invitedBy: options.invitedBy, inviteTtlHours: options.inviteTtlHours, inviteTokens: true, held: options.held, refuseUncovered: true })
    const bad = outcome.failed[0]
    if (bad !== undefined) throw invalid(bad.index, bad.field, bad.message)
    // Without skipExisting, existing members make it a 409 and the transaction writes nothing.
    if (outcome.existing.length > 0 && !options.skipExisting) {
      throw new ConflictError(`${outcome.existing.length} of these users are already members`,
        outcome.existing.map((c) => ({ index: c.index, userId: c.userId, ...(c.email ? { email: c.email } : {}) })))
    }
    const created = outcome.created.map((c) => c.userId)
    // One statement for the audit entry and the events.
    await emitEvents(trx, actor, org, outcome.events, {
      orgId: org.id,
      action: 'members.added',
      targetType: 'membership',
      metadata: { created: created.length, skipped: outcome.existing.length, invited: outcome.created.filter((c) => c.inviteToken !== undefined).length, userIds: created.slice(0, 100) }
    })
    return outcome.created.map((c) => ({ userId: c.userId, member: c.member, groups: c.groups, ...(c.inviteToken !== undefined ? { inviteToken: c.inviteToken } : {}) }))
  })
}

/** The event of a new membership: an invitation when the person has not signed in yet. */
export function membershipCreated (orgSlug: string, member: MemberRow, groups: string[]): EventInput {
  return { type: member.status === 'invited' ? 'invitation.created' : 'membership.created', data: toMembership(orgSlug, member, { groups }) }
}
