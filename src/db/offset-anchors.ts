// Offset pages at depth (Prisme's `page=N`) without counting off every skipped row. The position
// of every ANCHOR_STRIDE-th membership of an org, in the list's order, is read once by one
// index-only scan and kept in memory with the version of the org's memberships it was read at
// (org_member_counts.changes: the triggers add every insert and delete to it); an unfiltered
// offset page then starts after the nearest anchor by keyset and counts off fewer than
// ANCHOR_STRIDE rows. Any insert or delete in the org changes the version, and the next deep
// page reads the anchors again; within one version the page is exactly the OFFSET page.
import { sql, type Kysely } from 'kysely'
import type { Database } from './schema.ts'
import type { KeysetPosition, Order, PageRequest } from './keyset.ts'
import { preparedStatement } from './prepared.ts'

export const ANCHOR_STRIDE = 1000
/** Orgs whose anchors are kept (the least recently used dropped): about 100 KB per million members. */
const KEPT = 32

interface Anchors { version: string, positions: KeysetPosition[] }
const kept = new Map<string, Anchors>()

const version = preparedStatement((db, orgId: string) => db.selectFrom('org_member_counts')
  .select((eb) => eb.fn.coalesce(eb.fn.sum<string>('changes'), eb.lit(0)).as('version')).where('org_id', '=', orgId))

async function versionOf (db: Kysely<Database>, orgId: string): Promise<string> {
  const [row] = await version.execute(db, orgId)
  return String(row?.version ?? 0)
}

/**
 * The positions of the rows at offsets STRIDE - 1, 2 STRIDE - 1, … and their version, in one
 * snapshot: a recursive walk that hops STRIDE rows at a time, each hop an index-only count-off
 * after the last anchor (cheaper than numbering every row with a window function).
 */
async function readAnchors (db: Kysely<Database>, orgId: string, order: Order): Promise<Anchors> {
  const direction = sql.raw(order === 'newest' ? 'desc' : 'asc')
  const past = sql.raw(order === 'newest' ? '<' : '>')
  const { rows } = await sql<{ version: string, positions: Array<[string, string]> }>`
    with recursive anchor (n, created_at, id) as (
      (select 1, created_at, id from org_memberships where org_id = ${orgId}
        order by created_at ${direction}, id ${direction} offset ${ANCHOR_STRIDE - 1} limit 1)
      union all
      (select a.n + 1, hop.created_at, hop.id from anchor a cross join lateral (
        select m.created_at, m.id from org_memberships m where m.org_id = ${orgId} and (m.created_at, m.id) ${past} (a.created_at, a.id)
        order by m.created_at ${direction}, m.id ${direction} offset ${ANCHOR_STRIDE - 1} limit 1) hop)
    )
    select (select coalesce(sum(changes), 0)::text from org_member_counts where org_id = ${orgId}) as version,
      coalesce((select json_agg(json_build_array(created_at, id) order by n) from anchor), '[]') as positions`.execute(db)
  const row = rows[0]!
  return { version: row.version, positions: row.positions.map(([createdAt, id]) => ({ createdAt, id })) }
}

/** An unfiltered offset request moved to start after its nearest anchor: the same page. */
export async function anchoredRequest (db: Kysely<Database>, orgId: string, request: PageRequest): Promise<PageRequest> {
  if (request.offset < ANCHOR_STRIDE || request.after !== null) return request
  const key = `${orgId} ${request.order}`
  const version = await versionOf(db, orgId)
  let anchors = kept.get(key)
  if (anchors?.version !== version) anchors = await readAnchors(db, orgId, request.order)
  kept.delete(key)
  kept.set(key, anchors)
  if (kept.size > KEPT) kept.delete(kept.keys().next().value as string)
  // Past the org's end the last anchor still leaves fewer than ANCHOR_STRIDE rows to count off.
  const k = Math.min(Math.floor(request.offset / ANCHOR_STRIDE), anchors.positions.length)
  if (k === 0) return request
  return { ...request, after: anchors.positions[k - 1]!, offset: request.offset - k * ANCHOR_STRIDE }
}
