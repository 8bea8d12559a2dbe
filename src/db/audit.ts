// Audit events: one per mutation and per export, written in the mutation's own transaction.
import type { Kysely, QueryCreator } from 'kysely'
import type { Database } from './schema.ts'
import { preparedStatement } from './prepared.ts'

export interface AuditActor {
  actorId: string | null
  actorKind: 'user' | 'apiKey' | 'system'
  requestId: string | null
}

export interface AuditEntry {
  orgId: string | null
  action: string
  targetType?: string | null
  targetId?: string | null
  metadata?: Record<string, unknown>
}

/**
 * The insert of one audit entry, for a prepared statement (the metadata bound as one JSON text),
 * run alone or folded into a larger statement.
 */
export function auditInsert (db: QueryCreator<Database>, actor: AuditActor, entry: Omit<AuditEntry, 'metadata'>, metadata: string) {
  return db.insertInto('audit_events').values({
    org_id: entry.orgId,
    actor_id: actor.actorId,
    actor_kind: actor.actorKind,
    action: entry.action,
    target_type: entry.targetType ?? null,
    target_id: entry.targetId ?? null,
    request_id: actor.requestId,
    metadata
  })
}

// Prepared: every change writes one.
const insertAudit = preparedStatement((db, orgId: string | null, actorId: string | null, actorKind: AuditActor['actorKind'], requestId: string | null,
  action: string, targetType: string | null, targetId: string | null, metadata: string) =>
  auditInsert(db, { actorId, actorKind, requestId }, { orgId, action, targetType, targetId }, metadata))

export async function recordAudit (db: Kysely<Database>, actor: AuditActor, entry: AuditEntry): Promise<void> {
  await insertAudit.execute(db, entry.orgId, actor.actorId, actor.actorKind, actor.requestId, entry.action, entry.targetType ?? null, entry.targetId ?? null, JSON.stringify(entry.metadata ?? {}))
}
