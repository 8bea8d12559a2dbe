// Keyset walks of the admin lists and exports, newest first: organizations and applications
// had no (created_at, id) index, so every page sorted the whole table.
import { type Kysely, sql } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await sql`create index if not exists organizations_created on organizations (created_at desc, id desc)`.execute(db)
  await sql`create index if not exists applications_created on applications (created_at desc, id desc)`.execute(db)
}

export async function down (db: Kysely<any>): Promise<void> {
  await sql`drop index if exists applications_created`.execute(db)
  await sql`drop index if exists organizations_created`.execute(db)
}
