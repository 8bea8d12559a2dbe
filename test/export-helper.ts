// Shared by the member export/import tests: members inserted directly (any bytes in names and
// emails), the export read over real HTTP (aborts and pauses need a socket, not inject), and a
// strict independent CSV parser (csv-parse) instead of line splits.
import { randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { parse } from 'csv-parse/sync'
import { sql } from 'kysely'
import type { FastifyInstance } from 'fastify'
import type { MembershipStatus } from '../src/db/schema.ts'
import { seedMembers } from '../src/db/seed.ts'

export interface MemberSpec {
  email?: string | null
  givenName?: string | null
  familyName?: string | null
  fullName?: string | null
  roleSlug?: string
  status?: MembershipStatus
  groups?: string[]
  createdAt?: string
}

/** Inserts users and their memberships (and groups) as given; returns the membership ids. */
export async function insertMembers (app: FastifyInstance, orgId: string, specs: MemberSpec[]): Promise<string[]> {
  const ids: string[] = []
  for (const s of specs) {
    const user = await app.db.insertInto('users').values({
      email: s.email === undefined ? `${randomUUID()}@example.com` : s.email,
      given_name: s.givenName ?? null,
      family_name: s.familyName ?? null,
      full_name: s.fullName ?? null,
      status: s.status === 'invited' ? 'pending' : 'active'
    } as any).returning('id').executeTakeFirstOrThrow()
    const m = await app.db.insertInto('org_memberships').values({
      org_id: orgId,
      user_id: user.id,
      role_slug: s.roleSlug ?? 'member',
      status: s.status ?? 'active',
      joined_via: 'direct',
      ...(s.createdAt ? { created_at: s.createdAt, updated_at: s.createdAt } : {})
    }).returning('id').executeTakeFirstOrThrow()
    for (const slug of s.groups ?? []) {
      await app.db.insertInto('org_groups').values({ org_id: orgId, slug, name: slug })
        .onConflict((oc) => oc.columns(['org_id', 'slug']).doNothing()).execute()
      const g = await app.db.selectFrom('org_groups').select('id').where('org_id', '=', orgId).where('slug', '=', slug).executeTakeFirstOrThrow()
      await app.db.insertInto('org_group_members').values({ group_id: g.id, org_id: orgId, user_id: user.id }).execute()
    }
    ids.push(m.id)
  }
  return ids
}

/** Parses a CSV body strictly: CRLF records, RFC 4180 quoting, the same column count everywhere. */
export function parseCsv (text: string): Array<Record<string, string>> {
  return parse(text, { columns: true, bom: true, record_delimiter: ['\r\n'], relax_quotes: false, relax_column_count: false, skip_empty_lines: false })
}

export async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

/** Starts an export over HTTP; resolves with the response once its headers arrive. */
export async function startExport (port: number, slug: string, token: string, query = ''): Promise<http.IncomingMessage> {
  return await new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: `/v2/orgs/${slug}/members/export${query}`, headers: { authorization: `Bearer ${token}` } }, resolve)
    req.on('error', reject)
    req.end()
  })
}

/** Reads the rest of a response; `complete` is false when the transfer was cut. */
export async function readAll (res: http.IncomingMessage): Promise<{ body: string, complete: boolean }> {
  return await new Promise((resolve) => {
    const chunks: Buffer[] = []
    const finish = (): void => resolve({ body: Buffer.concat(chunks).toString('utf8'), complete: res.complete })
    res.on('data', (c: Buffer) => chunks.push(c))
    res.on('end', finish)
    res.on('error', finish)
    res.on('aborted', () => {})
    res.resume()
  })
}

/** Waits for the first body chunk, then stops reading (the server soon sees a full socket). */
export async function firstChunkThenPause (res: http.IncomingMessage): Promise<string> {
  return await new Promise((resolve) => {
    res.once('data', (chunk: Buffer) => { res.pause(); resolve(chunk.toString('utf8')) })
  })
}

/** Polls `check` until it holds (bounded, so a broken build fails instead of hanging). */
export async function eventually (check: () => Promise<boolean>, what: string, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`never happened: ${what}`)
}

/** Export sessions of this test database still open on the server (PostgreSQL). */
export async function openExportBackends (app: FastifyInstance): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
    where application_name = 'orgroster-export' and datname = current_database() and state <> 'idle'`.execute(app.db)
  return rows[0]?.n ?? 0
}

/** Connections of the export pool checked out right now (0 without a pool). */
export function exportPoolInUse (ctx: { app: FastifyInstance }): number {
  const pool = ctx.app.database.exportPool
  return pool === undefined ? 0 : pool.totalCount - pool.idleCount
}

/**
 * Seeds members whose rows are ~`rowBytes` long, so that a client that stops reading fills the
 * socket buffers (several MB on loopback) long before the export's last page.
 */
export async function seedFatMembers (app: FastifyInstance, orgId: string, count: number, rowBytes = 5000): Promise<void> {
  await seedMembers(app.db, orgId, count)
  await sql`update users set full_name = repeat('x', ${rowBytes}::int)
    where id in (select user_id from org_memberships where org_id = ${orgId}::uuid)`.execute(app.db)
}
