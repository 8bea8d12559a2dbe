// Audit events: one per mutation and per export, written in the mutation's own transaction.
import type { Kysely } from 'kysely'
import type { Database } from './schema.ts'

export interface AuditActor {
  actorId: string | null
  actorKind: 'user' | 'apiKey' | 'system'
  requestId: string | null
}

export interface AuditEntry {
  orgId: string | null
  action: string
  targetType?: string
  targetId?: string | null
  metadata?: Record<string, unknown>
}

/** The insert of one audit entry, for a caller to run or to fold into a larger statement. */
export function auditInsert (db: Kysely<Database>, actor: AuditActor, entry: AuditEntry) {
  return db.insertInto('audit_events').values({
    org_id: entry.orgId,
    actor_id: actor.actorId,
    actor_kind: actor.actorKind,
    action: entry.action,
    target_type: entry.targetType ?? null,
    target_id: entry.targetId ?? null,
    request_id: actor.requestId,
    metadata: JSON.stringify(entry.metadata ?? {})
  })
}

export async function recordAudit (db: Kysely<Database>, actor: AuditActor, entry: AuditEntry): Promise<void> {
  await auditInsert(db, actor, entry).execute()
}
