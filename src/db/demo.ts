// The demo organization `acme`, created on the first start of a development instance.
import type { Kysely } from 'kysely'
import type { Database } from './schema.ts'
import { createOrganization, slugTaken } from './orgs.ts'
import { upsertUserFromClaims } from './users.ts'
import { seedMembers } from './seed.ts'
import { DEV_ADMIN } from '../lib/dev-token.ts'

const SYSTEM = { actorId: null, actorKind: 'system' as const, requestId: null }

/** Seeds `acme` with a few hundred members; false when it already exists. */
export async function seedDemo (db: Kysely<Database>): Promise<boolean> {
  if (await slugTaken(db, 'acme')) return false
  const admin = await upsertUserFromClaims(db, { ...DEV_ADMIN, email_verified: true })
  const org = await createOrganization(db, admin.id, { slug: 'acme', name: 'Acme Corp', description: 'Demo organization' }, SYSTEM)
  await seedMembers(db, org.id, 300)
  return true
}
