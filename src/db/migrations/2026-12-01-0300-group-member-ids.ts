// Group memberships get an id (Prisme's OrgGroupMember has one) and the (group, created_at, id)
// index every list pages by, so a group's members page like every other list.
import { type Kysely, sql } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await sql`alter table org_group_members add column id uuid not null default gen_random_uuid()`.execute(db)
  await sql`create unique index org_group_members_id on org_group_members (id)`.execute(db)
  await sql`create index org_group_members_group_created on org_group_members (group_id, created_at desc, id desc)`.execute(db)
}

export async function down (db: Kysely<any>): Promise<void> {
  await sql`drop index if exists org_group_members_group_created`.execute(db)
  await sql`drop index if exists org_group_members_id`.execute(db)
  await sql`alter table org_group_members drop column id`.execute(db)
}
