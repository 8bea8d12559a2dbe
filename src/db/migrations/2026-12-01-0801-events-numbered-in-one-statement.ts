// The numbering trigger of migration 0701 finds its transaction's provisional events by the
// transaction's id, in one statement instead of three, and checks each row by its key.
// - 0701 found them through a partial index on org_id (seq < 0). A numbered event leaves its
//   entry there until VACUUM, and a bitmap scan never marks entries dead, so each commit read
//   every event the org had written since the last VACUUM: bench:load's adds to one org slowed
//   by a third within 20 seconds (12,000 entries, 1,100 heap pages per commit). Each row now
//   records the transaction that wrote it (xact), and the index is on that: a commit reads its
//   own rows only.
// - Once the first event of the transaction is found unnumbered, one statement counts the
//   transaction's provisional rows, advances the org's counter by that count and numbers them
//   (each statement a trigger runs has its own executor set-up, paid by every change).
// - The trigger runs once per event row and first asks whether its row is numbered yet, by the
//   row's primary key alone. 0701 asked `where id = new.id and seq < 0`, and the condition on seq
//   lets the planner answer from the partial index of pending events, scanning every entry it
//   keeps until VACUUM with a filter on id; once the statistics say few rows are pending, it
//   does (bench:import: the commit of a 100,000-line import into an org that had just taken
//   100,000 events ran for more than 13 minutes).
// The column is added without a default, then given one, so existing rows are not rewritten
// (they are all numbered: adding the column waits for every open writer of org_events).
import { type Kysely, sql } from 'kysely'
import * as atCommit from './2026-12-01-0701-events-numbered-at-commit.ts'

export async function up (db: Kysely<any>): Promise<void> {
  await sql`alter table org_events add column xact xid8`.execute(db)
  await sql`alter table org_events alter column xact set default pg_current_xact_id()`.execute(db)
  await sql`create index org_events_pending_xact on org_events (xact) where seq < 0`.execute(db)
  await sql`drop index org_events_pending`.execute(db)
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

// Back to 0701 as it was: its trigger, function, sequence and index made anew.
export async function down (db: Kysely<any>): Promise<void> {
  await atCommit.down(db)
  await sql`drop index org_events_pending_xact`.execute(db)
  await sql`alter table org_events drop column xact`.execute(db)
  await atCommit.up(db)
}
