// The numbering trigger (migrations 0701, 0801) runs once per event row and first asks whether
// the row is still unnumbered: `where id = new.id and seq < 0`. The condition on seq lets the
// planner answer it from the partial index `org_events_pending_xact (xact) where seq < 0`,
// which keeps an entry for every event numbered since the last VACUUM, scanning all of them with
// a filter on id; once the statistics say few rows have seq < 0, it does (bench:import: the
// commit of a 100,000-line import into an org that had just taken 100,000 events ran for more
// than 13 minutes instead of seconds). The row is now read by its primary key alone.
import { type Kysely, sql } from 'kysely'
import * as oneStatement from './2026-12-01-0801-events-numbered-in-one-statement.ts'

export async function up (db: Kysely<any>): Promise<void> {
  await sql`create or replace function org_events_number () returns trigger language plpgsql as $$
    declare
      current_seq bigint;
    begin
      -- The first event of the transaction numbers them all; the others find theirs done.
      select seq into current_seq from org_events where id = new.id;
      if current_seq >= 0 then return null; end if;
      -- The timestamp is the numbering's too, so it grows with seq.
      with pending as (
        select id, row_number() over (order by seq desc) as r, count(*) over () as n
        from org_events where xact = pg_current_xact_id() and org_id = new.org_id and seq < 0
      ), counter as (
        insert into org_event_counters as c (org_id, seq) select new.org_id, count(*) from pending
          on conflict (org_id) do update set seq = c.seq + excluded.seq
          returning c.seq as last
      )
      update org_events e set seq = counter.last - p.n + p.r, created_at = clock_timestamp()
        from pending p, counter where e.id = p.id;
      return null;
    end $$`.execute(db)
}

// Back to 0801's function (its down() then leads back to 0701).
export async function down (db: Kysely<any>): Promise<void> {
  await oneStatement.down(db)
  await oneStatement.up(db)
}
