// Membership events (issue 15): the transactional outbox, webhook endpoints, their deliveries and
// attempts, and a cursor per org for each stream sink (NATS).
// `org_event_counters` numbers an org's events: a writer upserts its org's row as the last step
// of its transaction and holds that row lock until it commits, so an org's `seq` is gapless and
// in commit order, and a reader at seq N has seen every event before it. Nothing here references
// organizations with a cascade: an org's last events (organization.deleted) outlive it, so they
// can still be delivered; retention removes them.
import { type Kysely, sql } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await sql`create table org_event_counters (
    org_id uuid primary key,
    seq bigint not null
  )`.execute(db)
  await sql`create table org_events (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null,
    org_slug text not null,
    seq bigint not null,
    type text not null,
    actor_type text not null,
    actor_id text,
    data jsonb not null,
    created_at timestamptz not null default clock_timestamp(),
    unique (org_id, seq)
  )`.execute(db)
  await sql`create index org_events_created on org_events (created_at)`.execute(db)

  await sql`create table webhooks (
    id uuid primary key default gen_random_uuid(),
    org_id uuid not null,
    url text not null,
    description text,
    event_types text[] not null default '{}',
    secret text not null,
    enabled boolean not null default true,
    disabled_reason text,
    failing_since timestamptz,
    dispatched_seq bigint not null,
    created_by uuid,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`.execute(db)
  await sql`create index webhooks_org on webhooks (org_id, created_at)`.execute(db)

  await sql`create table webhook_deliveries (
    id uuid primary key default gen_random_uuid(),
    webhook_id uuid not null references webhooks (id) on delete cascade,
    event_id uuid,
    event_type text not null,
    status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz,
    claimed_until timestamptz,
    last_response_code integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`.execute(db)
  await sql`create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'pending'`.execute(db)
  await sql`create index webhook_deliveries_list on webhook_deliveries (webhook_id, created_at desc, id desc)`.execute(db)
  await sql`create index webhook_deliveries_done on webhook_deliveries (updated_at) where status <> 'pending'`.execute(db)

  await sql`create table webhook_attempts (
    id uuid primary key default gen_random_uuid(),
    delivery_id uuid not null references webhook_deliveries (id) on delete cascade,
    started_at timestamptz not null,
    succeeded boolean not null,
    response_code integer,
    duration_ms integer not null,
    response_body text,
    error text
  )`.execute(db)
  await sql`create index webhook_attempts_delivery on webhook_attempts (delivery_id, started_at)`.execute(db)

  await sql`create table event_sink_cursors (
    sink text not null,
    org_id uuid not null,
    seq bigint not null,
    claimed_until timestamptz,
    primary key (sink, org_id)
  )`.execute(db)

  // The built-in admin role of every existing org gains the two new permissions (DESIGN.md 4).
  await sql`update org_roles set permissions = permissions || array['orgs:webhooks:manage', 'orgs:events:read']::text[],
      description = 'Manages members, roles, API keys, invites and webhooks; reads events.', updated_at = now()
    where is_system and slug = 'admin' and not ('orgs:webhooks:manage' = any (permissions))`.execute(db)
}

export async function down (db: Kysely<any>): Promise<void> {
  await sql`update org_roles set permissions = array_remove(array_remove(permissions, 'orgs:webhooks:manage'), 'orgs:events:read')
    where is_system and slug = 'admin'`.execute(db)
  await sql`drop table if exists event_sink_cursors`.execute(db)
  await sql`drop table if exists webhook_attempts`.execute(db)
  await sql`drop table if exists webhook_deliveries`.execute(db)
  await sql`drop table if exists webhooks`.execute(db)
  await sql`drop table if exists org_events`.execute(db)
  await sql`drop table if exists org_event_counters`.execute(db)
}
