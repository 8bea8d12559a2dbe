// Users: just-in-time creation from JWT claims, and linking of users invited by email. Each
// change is audited in its transaction, with the user as the actor (user.created,
// user.updated, user.linked, and member.joined in every org whose invitation it activates).
import { sql, type Kysely } from 'kysely'
import type { Database, User } from './schema.ts'
import { recordAudit, type AuditActor } from './audit.ts'
import { emitEvents } from './events.ts'
import { getMemberWithGroups, type MemberRow } from './members.ts'
import { toMembership } from '../lib/representations.ts'

export interface IdentityClaims {
  sub: string
  email?: string | null
  name?: string | null
  given_name?: string | null
  family_name?: string | null
  email_verified?: boolean | null
}

function profileFrom (claims: IdentityClaims) {
  const email = typeof claims.email === 'string' && claims.email.length > 0 ? claims.email.toLowerCase() : null
  const given = claims.given_name ?? null
  const family = claims.family_name ?? null
  const full = claims.name ?? ([given, family].filter(Boolean).join(' ') || null)
  return { email, given_name: given, family_name: family, full_name: full, email_verified: claims.email_verified === true }
}

function profileDiffers (user: User, profile: ReturnType<typeof profileFrom>): boolean {
  return (profile.email !== null && user.email !== profile.email) ||
    user.given_name !== profile.given_name || user.family_name !== profile.family_name ||
    user.full_name !== profile.full_name || user.email_verified !== profile.email_verified
}

/**
 * The user behind a JWT `sub`: created on first sight, profile refreshed when the claims change.
 * A pending user invited by that email (and not yet signed in) becomes this user, and its
 * invitations become active memberships.
 */
export async function upsertUserFromClaims (db: Kysely<Database>, claims: IdentityClaims, requestId: string | null = null): Promise<User> {
  const profile = profileFrom(claims)
  const self = (userId: string): AuditActor => ({ actorId: userId, actorKind: 'user', requestId })
  const existing = await db.selectFrom('users').selectAll().where('sub', '=', claims.sub).executeTakeFirst()
  if (existing) {
    if (!profileDiffers(existing, profile)) return existing
    // An email another user already holds is not taken over by a profile refresh.
    const email = profile.email !== null && profile.email !== existing.email && !(await emailTaken(db, profile.email))
      ? profile.email
      : existing.email
    const changed = { ...profile, email }
    const fields = (Object.keys(changed) as Array<keyof typeof changed>).filter((k) => changed[k] !== existing[k])
    return await db.transaction().execute(async (trx) => {
      const user = await trx.updateTable('users')
        .set({ ...changed, updated_at: sql<string>`now()` as any })
        .where('id', '=', existing.id).returningAll().executeTakeFirstOrThrow()
      await recordAudit(trx, self(user.id), { orgId: null, action: 'user.updated', targetType: 'user', targetId: user.id, metadata: { fields, via: 'jwt' } })
      return user
    })
  }
  return await db.transaction().execute(async (trx) => {
    const pending = profile.email !== null && claims.email_verified !== false
      ? await trx.selectFrom('users').selectAll()
        .where(sql<string>`lower(email)`, '=', profile.email).where('sub', 'is', null)
        .forUpdate().executeTakeFirst()
      : undefined
    if (pending) {
      const user = await trx.updateTable('users')
        .set({ ...profile, sub: claims.sub, status: 'active', last_login_at: sql<string>`now()` as any, login_count: 1, updated_at: sql<string>`now()` as any })
        .where('id', '=', pending.id).returningAll().executeTakeFirstOrThrow()
      const joined = await trx.updateTable('org_memberships')
        .set({ status: 'active', joined_at: sql<string>`now()` as any, joined_via: 'invite-email', invite_token_hash: null, updated_at: sql<string>`now()` as any })
        .where('user_id', '=', user.id).where('status', '=', 'invited')
        .where((eb) => eb.or([eb('invite_expires_at', 'is', null), eb('invite_expires_at', '>', sql<string>`now()` as any)]))
        .returning(['org_id', 'role_slug']).execute()
      await recordAudit(trx, self(user.id), { orgId: null, action: 'user.linked', targetType: 'user', targetId: user.id, metadata: { via: 'invite-email', orgs: joined.length } })
      for (const m of joined) {
        await recordAudit(trx, self(user.id), { orgId: m.org_id, action: 'member.joined', targetType: 'user', targetId: user.id, metadata: { via: 'invite-email', roleSlug: m.role_slug } })
      }
      // In org id order: concurrent sign-ins take the orgs' event counters in one order.
      for (const m of joined.sort((a, b) => (a.org_id < b.org_id ? -1 : 1))) {
        const member = await getMemberWithGroups(trx, m.org_id, user.id) as { member: MemberRow, groups: string[] }
        await emitEvents(trx, self(user.id), m.org_id, (orgSlug) => [{ type: 'invitation.accepted', data: toMembership(orgSlug, member.member, { groups: member.groups }) }])
      }
      return user
    }
    // A concurrent first request of the same sub may win; then read its row.
    const inserted = await trx.insertInto('users')
      .values({ sub: claims.sub, ...(profile.email !== null && await emailTaken(trx, profile.email) ? { ...profile, email: null } : profile), status: 'active', last_login_at: sql<string>`now()` as any, login_count: 1 })
      .onConflict((oc) => oc.column('sub').doNothing())
      .returningAll().executeTakeFirst()
    if (inserted) {
      await recordAudit(trx, self(inserted.id), { orgId: null, action: 'user.created', targetType: 'user', targetId: inserted.id, metadata: { via: 'jwt' } })
      return inserted
    }
    return await trx.selectFrom('users').selectAll().where('sub', '=', claims.sub).executeTakeFirstOrThrow()
  })
}

async function emailTaken (db: Kysely<Database>, email: string): Promise<boolean> {
  const row = await db.selectFrom('users').select('id').where(sql<string>`lower(email)`, '=', email).executeTakeFirst()
  return row !== undefined
}
