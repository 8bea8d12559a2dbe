// Shared by the admin export tests: platform tokens, export requests parsed by independent
// parsers (csv-parse, JSON.parse), and an org seeded with users whose fields stress the CSV.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { parse } from 'csv-parse/sync'
import { bearer, ownerWithOrg, type TestApp } from './helper.ts'

export const PLATFORM = ['user:read', 'org:read', 'client:read', 'role:read', 'audit:read', 'admin:write']

export function platform (ctx: TestApp, permissions: string[] = PLATFORM): Record<string, string> {
  return bearer(ctx.token({ permissions }))
}

export interface CsvExport { status: number, headers: Record<string, unknown>, body: string, header: string[], rows: string[][] }

export async function exportCsv (ctx: TestApp, path: string, headers = platform(ctx)): Promise<CsvExport> {
  const res = await ctx.app.inject({ method: 'GET', url: `/api/admin/export/${path}${path.includes('?') ? '&' : '?'}format=csv`, headers })
  const records: string[][] = res.statusCode === 200 ? parse(res.body, { relax_column_count: false }) : []
  return { status: res.statusCode, headers: res.headers, body: res.body, header: records[0] ?? [], rows: records.slice(1) }
}

export interface JsonExport { status: number, headers: Record<string, unknown>, body: string, json: any }

export async function exportJson (ctx: TestApp, path: string, headers = platform(ctx)): Promise<JsonExport> {
  const res = await ctx.app.inject({ method: 'GET', url: `/api/admin/export/${path}`, headers })
  return { status: res.statusCode, headers: res.headers, body: res.body, json: JSON.parse(res.body) }
}

/** The CSV cell the contract asks for, given the JSON value of the same field. */
export function expectedCell (value: unknown): string {
  if (value === null) return ''
  if (typeof value === 'string') return /^[=+\-@\t\r']/.test(value) ? `'${value}` : value
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

/** Polls for an audit event written after a response ended (exports record theirs last). */
export async function auditEvent (ctx: TestApp, action: string, requestId: string) {
  for (let i = 0; i < 200; i++) {
    const row = await ctx.app.db.selectFrom('audit_events').selectAll()
      .where('action', '=', action).where('request_id', '=', requestId).executeTakeFirst()
    if (row) return row
    await sleep(25)
  }
  throw new Error(`no ${action} event for request ${requestId}`)
}

export interface SeededOrg { orgId: string, slug: string, ownerToken: string, userIds: string[], passwordHash: string, inviteTokenHash: string }

/** An org with its owner and three more users: one with awkward text, one invited, one suspended. */
export async function seedOrgWithUsers (ctx: TestApp): Promise<SeededOrg> {
  const owner = await ownerWithOrg(ctx)
  const tag = randomBytes(4).toString('hex')
  const passwordHash = `$argon2id$v=19$pwhash-${randomBytes(12).toString('hex')}`
  const inviteTokenHash = `invite-${randomBytes(16).toString('hex')}`
  const users = await ctx.app.db.insertInto('users').values([
    {
      email: `awkward-${tag}@example.com`,
      given_name: '=HYPERLINK("http://evil")',
      family_name: 'Smith, "Jr"\nII',
      nickname: '@nick',
      locale: 'fr-FR',
      phone_number: '+33 1 23 45 67 89',
      password_hash: passwordHash,
      last_login_at: '2026-01-15T10:30:00.123456Z',
      login_count: 7
    },
    { email: `invited-${tag}@example.com`, status: 'pending' },
    { email: `suspended-${tag}@example.com`, given_name: 'Sus', family_name: 'Pended', email_verified: true }
  ]).returning('id').execute()
  const [awkward, invited, suspended] = users.map((u) => u.id) as [string, string, string]
  await ctx.app.db.insertInto('org_memberships').values([
    { org_id: owner.orgId, user_id: awkward, role_slug: 'member', status: 'active', joined_via: 'direct' },
    { org_id: owner.orgId, user_id: invited, role_slug: 'member', status: 'invited', invite_email: `invited-${tag}@example.com`, invite_token_hash: inviteTokenHash },
    { org_id: owner.orgId, user_id: suspended, role_slug: 'admin', status: 'suspended' }
  ]).execute()
  const ownerRow = await ctx.app.db.selectFrom('users').select('id').where('sub', '=', owner.sub).executeTakeFirstOrThrow()
  return { orgId: owner.orgId, slug: owner.slug, ownerToken: owner.token, userIds: [ownerRow.id, awkward, invited, suspended], passwordHash, inviteTokenHash }
}
