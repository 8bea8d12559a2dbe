// Bulk seeding done by the database itself (generate_series), so a million members take
// seconds: users, memberships across roles and statuses, and group memberships.
import { randomBytes } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Database } from './schema.ts'

export const SEED_GROUPS = ['engineering', 'sales', 'support', 'design'] as const

/** Adds `count` members to the org; returns how many were added. */
export async function seedMembers (db: Kysely<Database>, orgId: string, count: number): Promise<number> {
  const tag = randomBytes(4).toString('hex')
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('org_groups')
      .values(SEED_GROUPS.map((slug) => ({ org_id: orgId, slug, name: slug[0]!.toUpperCase() + slug.slice(1) })))
      .onConflict((oc) => oc.columns(['org_id', 'slug']).doNothing()).execute()
    // Every 40th member is a pending invite, every 50th suspended, every 10th an admin;
    // created_at steps back one second per 3 members, so timestamps tie across page boundaries.
    await sql`
      with new_users as (
        insert into users (email, given_name, family_name, full_name, status, email_verified, locale, created_at, updated_at)
        select 'member' || i || '-' || ${tag} || '@example.com',
               (array['Ada','Grace','Alan','Edsger','Barbara','Donald','Margaret','Linus'])[1 + i % 8],
               (array['Lovelace','Hopper','Turing','Dijkstra','Liskov','Knuth','Hamilton','Torvalds'])[1 + (i / 8) % 8],
               (array['Ada','Grace','Alan','Edsger','Barbara','Donald','Margaret','Linus'])[1 + i % 8] || ' ' ||
               (array['Lovelace','Hopper','Turing','Dijkstra','Liskov','Knuth','Hamilton','Torvalds'])[1 + (i / 8) % 8],
               case when i % 40 = 0 then 'pending' else 'active' end,
               i % 40 <> 0,
               (array['en','fr','de','es'])[1 + i % 4],
               now() - make_interval(secs => i / 3), now()
        from generate_series(1, ${count}::int) as i
        returning id, email, created_at
      ), numbered as (
        select id, email, created_at, row_number() over (order by email) as i from new_users
      ), members as (
        insert into org_memberships (org_id, user_id, role_slug, status, invite_email, invited_at, invite_expires_at,
                                     joined_at, joined_via, deactivated_at, created_at, updated_at)
        select ${orgId}::uuid, id,
               case when i % 10 = 0 then 'admin' else 'member' end,
               case when i % 40 = 0 then 'invited' when i % 50 = 0 then 'suspended' else 'active' end,
               case when i % 40 = 0 then email end,
               case when i % 40 = 0 then created_at end,
               case when i % 40 = 0 then created_at + interval '7 days' end,
               case when i % 40 <> 0 then created_at end,
               case when i % 40 = 0 then 'invite-email' else 'direct' end,
               case when i % 50 = 0 and i % 40 <> 0 then created_at + interval '1 day' end,
               created_at, created_at
        from numbered
        returning user_id
      )
      insert into org_group_members (group_id, org_id, user_id)
      select g.id, ${orgId}::uuid, n.id
      from numbered n
      join org_groups g on g.org_id = ${orgId}::uuid
        and g.slug = (array['engineering','sales','support','design'])[1 + n.i % 4]
      where n.i % 5 <> 0
    `.execute(trx)
  })
  // Fresh statistics, or the planner keeps estimating an empty org until autovacuum runs and
  // sorts the whole org for every page instead of walking the (org_id, created_at, id) index.
  await sql`analyze users, org_memberships, org_group_members`.execute(db)
  return count
}
