// Migrations are modules in ./migrations, applied in name order by Kysely's Migrator.
import { Migrator, type Kysely, type MigrationProvider, type Migration } from 'kysely'
import * as initial from './migrations/2026-11-23-0001-initial.ts'
import * as adminIndexes from './migrations/2026-11-23-0301-admin-indexes.ts'
import * as memberCounts from './migrations/2026-11-24-0401-member-counts.ts'
import * as groupMemberIds from './migrations/2026-12-01-0300-group-member-ids.ts'
import * as events from './migrations/2026-12-01-0501-events.ts'
import * as memberChanges from './migrations/2026-12-01-0601-member-changes.ts'
import * as eventsNumberedAtCommit from './migrations/2026-12-01-0701-events-numbered-at-commit.ts'
import * as eventsNumberedInOneStatement from './migrations/2026-12-01-0801-events-numbered-in-one-statement.ts'

const migrations: Record<string, Migration> = {
  '2026-11-23-0001-initial': initial,
  '2026-11-23-0301-admin-indexes': adminIndexes,
  '2026-11-24-0401-member-counts': memberCounts,
  '2026-12-01-0300-group-member-ids': groupMemberIds,
  '2026-12-01-0501-events': events,
  '2026-12-01-0601-member-changes': memberChanges,
  '2026-12-01-0701-events-numbered-at-commit': eventsNumberedAtCommit,
  '2026-12-01-0801-events-numbered-in-one-statement': eventsNumberedInOneStatement
}

const provider: MigrationProvider = { getMigrations: async () => migrations }

export function migrator (db: Kysely<any>): Migrator {
  return new Migrator({ db, provider })
}

/** Applies the pending migrations; returns how many there were. */
export async function migrateToLatest (db: Kysely<any>): Promise<number> {
  const { error, results } = await migrator(db).migrateToLatest()
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message}`, { cause: error })
  }
  return results?.filter((r) => r.status === 'Success').length ?? 0
}

/** True when every known migration has been applied. */
export async function migrationsCurrent (db: Kysely<any>): Promise<boolean> {
  const all = await migrator(db).getMigrations()
  return all.every((m) => m.executedAt !== undefined)
}
