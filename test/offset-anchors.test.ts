// Offset pages at depth start from anchors (src/db/offset-anchors.ts): every page, in both
// orders, at and around the anchors' boundaries and past the end, is exactly the page a plain
// OFFSET gives, before and after memberships are added and removed (a removal near the top
// shifts every later position: stale anchors would show it). Ties on created_at included: one
// seeding statement gives its members the same created_at, ordered by id.
import t from 'tap'
import { sql } from 'kysely'
import { buildTestApp, bearer, ownerWithOrg } from './helper.ts'
import { seedMembers } from '../src/db/seed.ts'
import { listMembersPage } from '../src/db/members.ts'
import { ANCHOR_STRIDE } from '../src/db/offset-anchors.ts'
import type { Order } from '../src/db/keyset.ts'

t.test('anchored offset pages equal plain OFFSET pages, before and after changes', async (t) => {
  const ctx = await buildTestApp(t)
  const owner = await ownerWithOrg(ctx)
  const db = ctx.app.db
  await seedMembers(db, owner.orgId, 2 * ANCHOR_STRIDE + 600)
  await seedMembers(db, owner.orgId, 450)

  const plain = async (order: Order, offset: number, limit: number): Promise<string[]> => {
    const direction = sql.raw(order === 'newest' ? 'desc' : 'asc')
    const { rows } = await sql<{ id: string }>`select id from org_memberships where org_id = ${owner.orgId}
      order by created_at ${direction}, id ${direction} offset ${offset} limit ${limit}`.execute(db)
    return rows.map((r) => r.id)
  }
  const offsets = [1, 993, 999, 1000, 1001, 1500, 1999, 2000, 2001, 2599, 3000, 3040, 3049, 3050, 3051, 5000, 1_000_000]
  const check = async (when: string): Promise<void> => {
    for (const order of ['newest', 'oldest'] as const) {
      for (const limit of [1, 7, 100]) {
        for (const offset of offsets) {
          const page = await listMembersPage(db, owner.orgId, {}, { limit, order, after: null, offset })
          t.same(page.rows.map((m) => m.id), await plain(order, offset, limit), `${when}: ${order}, offset ${offset}, limit ${limit}`)
        }
      }
    }
  }
  await check('as seeded')

  // A removal near the top of each order and additions at the newest end move every position.
  const { rows: [top] } = await sql<{ id: string }>`select id from org_memberships where org_id = ${owner.orgId}
    and role_slug <> 'owner' order by created_at desc, id desc offset 3 limit 1`.execute(db)
  const { rows: [bottom] } = await sql<{ id: string }>`select id from org_memberships where org_id = ${owner.orgId}
    and role_slug <> 'owner' order by created_at asc, id asc offset 5 limit 1`.execute(db)
  await db.deleteFrom('org_memberships').where('id', 'in', [top!.id, bottom!.id]).execute()
  await check('after two removals')
  await seedMembers(db, owner.orgId, 3)
  await check('after three additions')

  // Over HTTP: Prisme's page=N at depth answers the same members as the plain OFFSET.
  const res = await ctx.app.inject({ method: 'GET', url: `/v2/orgs/${owner.slug}/members?limit=100&page=21`, headers: bearer(owner.token) })
  t.equal(res.statusCode, 200)
  t.same(res.json().results.map((m: { id: string }) => m.id), await plain('newest', 2000, 100), 'page=21 of 100 over HTTP')
})
