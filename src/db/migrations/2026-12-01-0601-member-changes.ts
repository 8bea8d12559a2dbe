// Offset pages at depth start from anchors: the positions of every 1,000th membership of an org,
// read once and kept while the org's memberships stay the same (src/db/offset-anchors.ts). What
// tells them apart is a version: `changes`, the count of memberships inserted and deleted,
// kept by the same statement triggers as the count itself (no new row lock: the same upsert).
// Only inserts and deletes move a membership's position (created_at and id never change).
import { type Kysely, sql } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await sql`alter table org_member_counts add column changes bigint not null default 0`.execute(db)
  // Writers wait from here until this migration commits: no membership written meanwhile goes uncounted.
  await sql`lock table org_memberships in share row exclusive mode`.execute(db)
  await sql`create or replace function org_member_counts_added () returns trigger language plpgsql as $$
    begin
      insert into org_member_counts (org_id, shard, members, changes)
        select org_id, pg_backend_pid() % 32, count(*), count(*) from added group by org_id order by org_id
        on conflict (org_id, shard) do update
          set members = org_member_counts.members + excluded.members, changes = org_member_counts.changes + excluded.changes;
      return null;
    end $$`.execute(db)
  await sql`create or replace function org_member_counts_removed () returns trigger language plpgsql as $$
    begin
      insert into org_member_counts (org_id, shard, members, changes)
        select r.org_id, pg_backend_pid() % 32, -count(*), count(*) from removed r
        where exists (select 1 from organizations o where o.id = r.org_id)
        group by r.org_id order by r.org_id
        on conflict (org_id, shard) do update
          set members = org_member_counts.members + excluded.members, changes = org_member_counts.changes + excluded.changes;
      return null;
    end $$`.execute(db)
}

export async function down (db: Kysely<any>): Promise<void> {
  await sql`create or replace function org_member_counts_added () returns trigger language plpgsql as $$
    begin
      insert into org_member_counts (org_id, shard, members)
        select org_id, pg_backend_pid() % 32, count(*) from added group by org_id order by org_id
        on conflict (org_id, shard) do update set members = org_member_counts.members + excluded.members;
      return null;
    end $$`.execute(db)
  await sql`create or replace function org_member_counts_removed () returns trigger language plpgsql as $$
    begin
      insert into org_member_counts (org_id, shard, members)
        select r.org_id, pg_backend_pid() % 32, -count(*) from removed r
        where exists (select 1 from organizations o where o.id = r.org_id)
        group by r.org_id order by r.org_id
        on conflict (org_id, shard) do update set members = org_member_counts.members + excluded.members;
      return null;
    end $$`.execute(db)
  await sql`alter table org_member_counts drop column changes`.execute(db)
}
