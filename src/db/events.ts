// The transactional outbox: a change's events are written by the change's own transaction and
// numbered as it commits (migration 0701: a deferred trigger takes the org's counter row then,
// so an org's seq is gapless and in commit order).
import { sql, type Kysely, type QueryCreator } from 'kysely'
import type { Database, OrgEvent } from './schema.ts'
import { auditInsert, recordAudit, type AuditActor, type AuditEntry } from './audit.ts'
import { cutPage, fetchSize, keysetRequest } from './keyset.ts'
import { preparedStatement } from './prepared.ts'

export const EVENT_TYPES = [
  'membership.created', 'membership.updated', 'membership.deleted',
  'invitation.created', 'invitation.renewed', 'invitation.accepted', 'invitation.revoked',
  'organization.created', 'organization.updated', 'organization.deleted',
  'role.created', 'role.updated', 'role.deleted',
  'group.created', 'group.updated', 'group.deleted',
  'group_membership.added', 'group_membership.removed',
  'api_key.created', 'api_key.updated', 'api_key.rotated', 'api_key.revoked', 'api_key.deleted',
  'members.imported', 'members.exported'
] as const

export type EventType = typeof EVENT_TYPES[number]

export interface EventInput {
  type: EventType
  /** The object the API answers for the change; never a token, secret or hash. */
  data: object
}

export interface OrgRef { id: string, slug: string }

/**
 * Appends `events` (in order) to the org's outbox in the caller's transaction, with provisional
 * negative seqs that the commit turns into the org's next ones. `org` is the org or its id (then
 * its slug is read here). With `audit`, the change's audit entry is written by the same
 * statement: one round trip for both on a hot path.
 */
export async function emitEvents (
  db: Kysely<Database>, actor: AuditActor, org: OrgRef | string, events: EventInput[] | ((orgSlug: string) => EventInput[]), audit?: AuditEntry
): Promise<void> {
  const ref = typeof org === 'string'
    ? await db.selectFrom('organizations').select(['id', 'slug']).where('id', '=', org).executeTakeFirstOrThrow()
    : org
  const list = typeof events === 'function' ? events(ref.slug) : events
  if (list.length === 0) {
    if (audit !== undefined) await recordAudit(db, actor, audit)
    return
  }
  const types = list.map((e) => e.type)
  const data = list.map((e) => JSON.stringify(e.data))
  if (audit === undefined) {
    await appendEvents.execute(db, ref.id, ref.slug, actor.actorKind, actor.actorId, types, data)
    return
  }
  await appendEventsWithAudit.execute(db, ref.id, ref.slug, actor.actorKind, actor.actorId, types, data,
    audit.orgId, actor.actorId, actor.actorKind, actor.requestId, audit.action, audit.targetType ?? null, audit.targetId ?? null, JSON.stringify(audit.metadata ?? {}))
}

// unnest yields the array's order, so nextval increases along it.
function eventsInsert (db: Pick<QueryCreator<Database>, 'insertInto'>, orgId: string, orgSlug: string, actorKind: AuditActor['actorKind'], actorId: string | null, types: string[], data: string[]) {
  return db.insertInto('org_events').columns(['org_id', 'org_slug', 'seq', 'type', 'actor_type', 'actor_id', 'data'])
    .expression(sql`select ${orgId}, ${orgSlug}, -nextval('org_event_order'), v.type, ${actorKind}, ${actorId}, v.data
      from unnest(${types}::text[], ${data}::jsonb[]) as v(type, data)`)
}

// Prepared: every change runs one of them.
const appendEvents = preparedStatement(eventsInsert)
// A data-modifying WITH runs whether or not the insert reads it.
const appendEventsWithAudit = preparedStatement((db, orgId: string, orgSlug: string, actorKind: AuditActor['actorKind'], actorId: string | null, types: string[], data: string[],
  auditOrgId: string | null, auditActorId: string | null, auditActorKind: AuditActor['actorKind'], requestId: string | null, action: string, targetType: string | null, targetId: string | null, metadata: string) =>
  eventsInsert(db.with('audit', (db) => auditInsert(db, { actorId: auditActorId, actorKind: auditActorKind, requestId }, { orgId: auditOrgId, action, targetType, targetId }, metadata)),
    orgId, orgSlug, actorKind, actorId, types, data))

/** The event as consumers see it (feed, webhooks, NATS). */
export function toEvent (e: OrgEvent) {
  return {
    id: e.id,
    type: e.type,
    timestamp: e.created_at,
    orgId: e.org_id,
    orgSlug: e.org_slug,
    seq: e.seq,
    actor: { type: e.actor_type, id: e.actor_id },
    data: e.data
  }
}

export type EventBody = ReturnType<typeof toEvent>

/** The seq of an event of this org, or null (unknown, another org's, or past retention). */
export async function eventSeq (db: Kysely<Database>, orgId: string, eventId: string): Promise<number | null> {
  const row = await db.selectFrom('org_events').select('seq').where('org_id', '=', orgId).where('id', '=', eventId).executeTakeFirst()
  return row?.seq ?? null
}

/** A page of the org's events after `afterSeq`, oldest first (seq order). */
export async function listEvents (db: Kysely<Database>, orgId: string, q: { afterSeq: number, types?: string[], limit: number }) {
  // Ordered by seq, not by the paginator's (created_at, id): only its limit + 1 and cut are shared.
  const request = keysetRequest(q.limit, null)
  let query = db.selectFrom('org_events').selectAll().where('org_id', '=', orgId).where('seq', '>', q.afterSeq)
  if (q.types !== undefined) query = query.where('type', 'in', q.types)
  const rows = await query.orderBy('seq').limit(fetchSize(request)).execute()
  return cutPage(rows, request, (r) => ({ createdAt: r.created_at, id: r.id }))
}

/** Removes events, and finished deliveries, older than the retention. */
export async function pruneEvents (db: Kysely<Database>, retentionDays: number): Promise<void> {
  const cutoff = sql<string>`now() - make_interval(days => ${retentionDays})`
  await db.deleteFrom('org_events').where('created_at', '<', cutoff).execute()
  await db.deleteFrom('webhook_deliveries').where('status', '<>', 'pending').where('updated_at', '<', cutoff).execute()
}

/**
 * Claims, for `leaseMs`, up to `limit` orgs with events the sink has not published, with the
 * sink's seq for each. Orgs the sink has never seen get a cursor at 0 first.
 */
export async function claimSinkCursors (db: Kysely<Database>, sink: string, limit: number, leaseMs: number): Promise<Array<{ orgId: string, seq: number }>> {
  await sql`insert into event_sink_cursors (sink, org_id, seq)
    select ${sink}, c.org_id, 0 from org_event_counters c
    where not exists (select 1 from event_sink_cursors s where s.sink = ${sink} and s.org_id = c.org_id)
    on conflict do nothing`.execute(db)
  const { rows } = await sql<{ org_id: string, seq: number }>`with due as (
      select s.org_id from event_sink_cursors s join org_event_counters c on c.org_id = s.org_id
      where s.sink = ${sink} and c.seq > s.seq and (s.claimed_until is null or s.claimed_until < now())
      limit ${limit}
      for update of s skip locked
    )
    update event_sink_cursors s set claimed_until = now() + make_interval(secs => ${leaseMs / 1000})
    from due where s.sink = ${sink} and s.org_id = due.org_id
    returning s.org_id, s.seq`.execute(db)
  return rows.map((r) => ({ orgId: r.org_id, seq: r.seq }))
}

/** The org's events after `afterSeq`, in seq order (a gapless run: see migration 0501). */
export async function eventsAfter (db: Kysely<Database>, orgId: string, afterSeq: number, limit: number): Promise<OrgEvent[]> {
  return await db.selectFrom('org_events').selectAll().where('org_id', '=', orgId).where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute()
}

/** Moves the sink's cursor to `seq` (what it has published) and ends its claim. */
export async function releaseSinkCursor (db: Kysely<Database>, sink: string, orgId: string, seq: number): Promise<void> {
  await db.updateTable('event_sink_cursors').set({ seq, claimed_until: null }).where('sink', '=', sink).where('org_id', '=', orgId).execute()
}
