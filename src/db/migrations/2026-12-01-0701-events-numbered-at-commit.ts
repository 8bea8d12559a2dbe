// An org's events are numbered at commit, no longer by the statement that writes them. A
// writer inserts its events with a provisional negative seq (-nextval of org_event_order: unique
// across transactions, so no writer waits on another's unique-index entry, and increasing in
// the order written); a deferred constraint trigger, run as the transaction commits, takes the
// org's counter row and turns the transaction's provisional numbers into the next seqs in that
// order (SET CONSTRAINTS org_events_number IMMEDIATE numbers them earlier, within the
// transaction). The counter row is then held only while the transaction commits, not from the events
// statement through the round trip to the client's COMMIT (bench:load: concurrent adds to one
// org queued on that row). Seqs stay gapless and in commit order.
import { type Kysely, sql } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await sql`create sequence org_event_order`.execute(db)
  await sql`create function org_events_number () returns trigger language plpgsql as $$
    declare
      n bigint;
      last bigint;
    begin
      -- The first event of the transaction numbers them all; the others find theirs done.
      perform 1 from org_events where id = new.id and seq < 0;
      if not found then return null; end if;
      select count(*) into n from org_events where org_id = new.org_id and seq < 0;
      insert into org_event_counters as c (org_id, seq) values (new.org_id, n)
        on conflict (org_id) do update set seq = c.seq + excluded.seq
        returning seq into last;
      -- Other transactions' provisional rows are not visible here: only this one's are numbered.
      -- The timestamp is the numbering's too, so it grows with seq as it did.
      update org_events e set seq = last - n + p.r, created_at = clock_timestamp()
        from (select id, row_number() over (order by seq desc) as r from org_events where org_id = new.org_id and seq < 0) p
        where e.id = p.id;
      return null;
    end $$`.execute(db)
  await sql`create constraint trigger org_events_number after insert on org_events
    deferrable initially deferred for each row execute function org_events_number()`.execute(db)
  await sql`create index org_events_pending on org_events (org_id) where seq < 0`.execute(db)
}

export async function down (db: Kysely<any>): Promise<void> {
  await sql`drop index if exists org_events_pending`.execute(db)
  await sql`drop trigger if exists org_events_number on org_events`.execute(db)
  await sql`drop function if exists org_events_number()`.execute(db)
  await sql`drop sequence if exists org_event_order`.execute(db)
}
