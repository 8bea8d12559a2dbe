// Escalation matrix (issue 11; webhooks from issue 15): every grant path × five actors (owner, admin, a custom role
// holding exactly one manage permission, an API key holding exactly one, a plain member) ×
// three targets (a role or key whose permissions are above, equal to or below the actor's held
// set). Each cell's outcome is computed from the rule, not listed: the route's permission, then
// every permission set the path involves must be covered by the held set. The status and the
// whole body are asserted; on every denial the org is read back and nothing has changed. One
// org per actor kind; each cell makes its own targets, so no cell depends on another's writes.
import t, { type Test } from 'tap'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { bearer, buildTestApp, databaseName, randomSlug, type TestApp } from './helper.ts'
import { ACTOR_KINDS, buildOrgWorld, makeKey, makeMember, makeRole, readBack, type ManagePermission, type OrgWorld } from './privilege-world.ts'

t.comment(`database: ${databaseName}`)

/** The rule, written from the text: `*` grants all, `x*` grants every permission starting with `x`. */
function covers (held: string[], needed: string): boolean {
  return held.some((h) => h === '*' || h === needed || (h.endsWith('*') && needed.startsWith(h.slice(0, -1))))
}

const TARGETS = {
  above: (held: string[]) => [...held, 'billing:invoices:manage'],
  equal: (held: string[]) => [...held],
  below: (held: string[]) => held.slice(0, -1)
}

/** A permission set the path involves, with the name the refusal gives it, in the order the service checks them. */
interface Involved { subject: string, permissions: string[] }
interface Cell {
  request: InjectOptions
  involved: Involved[]
  /** Users the path may create, read back with the org. */
  emails?: string[]
  /** What a success also shows. */
  check?: (t: Test, res: LightMyRequestResponse) => Promise<void> | void
}
interface Path {
  permission: ManagePermission
  ok: number
  /** Makes this cell's own targets carrying `set`, and the request. */
  cell: (w: OrgWorld, set: string[]) => Promise<Cell>
  /** A refused path whose status is not 403 (the import fails the line instead, and audits the import). */
  denied?: (t: Test, res: LightMyRequestResponse, message: string) => void
}

const role = (slug: string, permissions: string[]): Involved => ({ subject: `Role ${slug}`, permissions })
const newSet = (permissions: string[]): Involved => ({ subject: 'The new permission set', permissions })
const base = (w: OrgWorld) => `/v2/orgs/${w.slug}`
const WEBHOOK: Involved = { subject: 'A webhook', permissions: ['orgs:events:read'] }

const PATHS: Record<string, Path> = {
  'bulk add assigns the role': {
    permission: 'orgs:members:manage',
    ok: 201,
    cell: async (w, set) => {
      const slug = await makeRole(w.ctx, w.orgId, set)
      const email = `${randomSlug('new')}@example.com`
      return {
        request: { method: 'POST', url: `${base(w)}/members`, payload: { users: [{ email, roleSlug: slug }] } },
        involved: [role(slug, set)],
        emails: [email],
        check: (t, res) => { t.match(res.json(), [{ email, roleSlug: slug, status: 'invited' }]) }
      }
    }
  },
  'CSV import assigns the role': {
    permission: 'orgs:members:manage',
    ok: 200,
    cell: async (w, set) => {
      const slug = await makeRole(w.ctx, w.orgId, set)
      const email = `${randomSlug('csv')}@example.com`
      return {
        request: { method: 'POST', url: `${base(w)}/members/import`, headers: { 'content-type': 'text/csv' }, payload: `email,roleSlug\r\n${email},${slug}\r\n` },
        involved: [role(slug, set)],
        emails: [email],
        check: (t, res) => { t.match(res.json(), { created: 1, skipped: 0, failed: [], failedCount: 0 }) }
      }
    },
    denied: (t, res, message) => {
      t.equal(res.statusCode, 200, 'an import fails the line, not the request')
      t.same(res.json(), { created: 0, skipped: 0, failed: [{ line: 2, message }], failedCount: 1, dryRun: false })
    }
  },
  'role change of a member (current role)': {
    permission: 'orgs:members:manage',
    ok: 200,
    cell: async (w, set) => {
      const [from, to] = [await makeRole(w.ctx, w.orgId, set), await makeRole(w.ctx, w.orgId, [])]
      const userId = await makeMember(w.ctx, w.orgId, from)
      return {
        request: { method: 'PATCH', url: `${base(w)}/members/${userId}`, payload: { roleSlug: to } },
        involved: [role(from, set), role(to, [])],
        check: (t, res) => { t.match(res.json(), { userId, roleSlug: to }) }
      }
    }
  },
  'role change of a member (new role)': {
    permission: 'orgs:members:manage',
    ok: 200,
    cell: async (w, set) => {
      const [from, to] = [await makeRole(w.ctx, w.orgId, []), await makeRole(w.ctx, w.orgId, set)]
      const userId = await makeMember(w.ctx, w.orgId, from)
      return {
        request: { method: 'PATCH', url: `${base(w)}/members/${userId}`, payload: { roleSlug: to } },
        involved: [role(from, []), role(to, set)],
        check: (t, res) => { t.match(res.json(), { userId, roleSlug: to }) }
      }
    }
  },
  'suspending a member': {
    permission: 'orgs:members:manage',
    ok: 200,
    cell: async (w, set) => {
      const slug = await makeRole(w.ctx, w.orgId, set)
      const userId = await makeMember(w.ctx, w.orgId, slug)
      return {
        request: { method: 'PATCH', url: `${base(w)}/members/${userId}`, payload: { status: 'suspended' } },
        involved: [role(slug, set)],
        check: (t, res) => { t.match(res.json(), { userId, status: 'suspended' }) }
      }
    }
  },
  'removing a member': {
    permission: 'orgs:members:manage',
    ok: 200,
    cell: async (w, set) => {
      const slug = await makeRole(w.ctx, w.orgId, set)
      const userId = await makeMember(w.ctx, w.orgId, slug)
      return { request: { method: 'DELETE', url: `${base(w)}/members/${userId}` }, involved: [role(slug, set)] }
    }
  },
  'removing members in bulk': {
    permission: 'orgs:members:manage',
    ok: 200,
    cell: async (w, set) => {
      const [slug, low] = [await makeRole(w.ctx, w.orgId, set), await makeRole(w.ctx, w.orgId, [])]
      const userIds = [await makeMember(w.ctx, w.orgId, low), await makeMember(w.ctx, w.orgId, slug)]
      return { request: { method: 'DELETE', url: `${base(w)}/members`, payload: { userIds } }, involved: [role(low, []), role(slug, set)] }
    }
  },
  'resending an invitation': {
    permission: 'orgs:invites:manage',
    ok: 200,
    cell: async (w, set) => {
      const slug = await makeRole(w.ctx, w.orgId, set)
      const userId = await makeMember(w.ctx, w.orgId, slug, 'invited')
      return {
        request: { method: 'POST', url: `${base(w)}/members/${userId}/invite` },
        involved: [role(slug, set)],
        check: (t, res) => { t.match(res.json(), { userId, status: 'invited', inviteToken: String }) }
      }
    }
  },
  'revoking an invitation': {
    permission: 'orgs:members:manage',
    ok: 200,
    cell: async (w, set) => {
      const slug = await makeRole(w.ctx, w.orgId, set)
      const userId = await makeMember(w.ctx, w.orgId, slug, 'invited')
      return { request: { method: 'DELETE', url: `${base(w)}/members/${userId}` }, involved: [role(slug, set)] }
    }
  },
  'creating an API key': {
    permission: 'orgs:apikeys:manage',
    ok: 201,
    cell: async (w, set) => ({
      request: { method: 'POST', url: `${base(w)}/api-keys`, payload: { slug: randomSlug('key'), name: 'New', permissions: set } },
      involved: [newSet(set)],
      check: (t, res) => { t.match(res.json(), { permissions: set, apiKey: /^iak_/ }) }
    })
  },
  'renaming an API key': keyPath({ method: 'PATCH', payload: { name: 'Renamed' } }),
  'disabling an API key': keyPath({ method: 'PATCH', payload: { disabled: true } }, { check: (t, res) => { t.match(res.json(), { disabled: true }) } }),
  'enabling a disabled API key': keyPath({ method: 'PATCH', payload: { disabled: false } }, { disabled: true, check: (t, res) => { t.match(res.json(), { disabled: false }) } }),
  'rotating an API key': keyPath({ method: 'POST', payload: {}, suffix: '/rotate' }, { check: (t, res) => { t.match(res.json(), { apiKey: /^iak_/ }) } }),
  'deleting an API key': keyPath({ method: 'DELETE' }),
  'giving an API key new permissions': {
    permission: 'orgs:apikeys:manage',
    ok: 200,
    cell: async (w, set) => {
      const key = await makeKey(w.ctx, w, [])
      return {
        request: { method: 'PATCH', url: `${base(w)}/api-keys/${key.id}`, payload: { permissions: set } },
        involved: [newSet(set), { subject: `API key ${key.slug}`, permissions: [] }],
        check: (t, res) => { t.match(res.json(), { permissions: set }) }
      }
    }
  },
  'creating a role': {
    permission: 'orgs:roles:manage',
    ok: 201,
    cell: async (w, set) => ({
      request: { method: 'POST', url: `${base(w)}/roles`, payload: { slug: randomSlug('role'), name: 'New', permissions: set } },
      involved: [newSet(set)],
      check: (t, res) => { t.match(res.json(), { permissions: set }) }
    })
  },
  'narrowing a role (old set)': {
    permission: 'orgs:roles:manage',
    ok: 200,
    cell: async (w, set) => {
      const slug = await makeRole(w.ctx, w.orgId, set)
      return { request: { method: 'PATCH', url: `${base(w)}/roles/${slug}`, payload: { permissions: [] } }, involved: [newSet([]), role(slug, set)] }
    }
  },
  'widening a role (new set)': {
    permission: 'orgs:roles:manage',
    ok: 200,
    cell: async (w, set) => {
      const slug = await makeRole(w.ctx, w.orgId, [])
      return {
        request: { method: 'PATCH', url: `${base(w)}/roles/${slug}`, payload: { permissions: set } },
        involved: [newSet(set), role(slug, [])],
        check: (t, res) => { t.match(res.json(), { slug, permissions: set }) }
      }
    }
  },
  // An endpoint receives the org's events: it grants reading them, whatever the target set.
  'creating a webhook': {
    permission: 'orgs:webhooks:manage',
    ok: 201,
    cell: async (w) => ({
      request: { method: 'POST', url: `${base(w)}/webhooks`, payload: { url: 'https://hooks.invalid/new' } },
      involved: [WEBHOOK],
      check: (t, res) => { t.match(res.json(), { url: 'https://hooks.invalid/new', secret: /^whsec_/ }) }
    })
  },
  'pointing a webhook elsewhere': {
    permission: 'orgs:webhooks:manage',
    ok: 200,
    cell: async (w) => {
      const hook = (await w.ctx.app.inject({ method: 'POST', url: `${base(w)}/webhooks`, headers: bearer(w.ownerToken), payload: { url: 'https://hooks.invalid/old' } })).json()
      return {
        request: { method: 'PATCH', url: `${base(w)}/webhooks/${hook.id}`, payload: { url: 'https://hooks.invalid/elsewhere' } },
        involved: [WEBHOOK],
        check: (t, res) => { t.match(res.json(), { id: hook.id, url: 'https://hooks.invalid/elsewhere' }) }
      }
    }
  },
  'deleting a role': {
    permission: 'orgs:roles:manage',
    ok: 200,
    cell: async (w, set) => {
      const slug = await makeRole(w.ctx, w.orgId, set)
      return { request: { method: 'DELETE', url: `${base(w)}/roles/${slug}` }, involved: [role(slug, set)] }
    }
  }
}

/** A path acting on an existing API key (disabled or not) carrying the target set. */
function keyPath (call: { method: InjectOptions['method'], payload?: object, suffix?: string }, options: { disabled?: boolean, check?: Cell['check'] } = {}): Path {
  return {
    permission: 'orgs:apikeys:manage',
    ok: 200,
    cell: async (w, set) => {
      const key = await makeKey(w.ctx, w, set, options.disabled)
      return {
        request: { method: call.method, url: `${base(w)}/api-keys/${key.id}${call.suffix ?? ''}`, ...(call.payload ? { payload: call.payload } : {}) },
        involved: [{ subject: `API key ${key.slug}`, permissions: set }],
        ...(options.check ? { check: options.check } : {})
      }
    }
  }
}

/** The refusal the rule gives, or null when the call is allowed. */
function refusal (held: string[], path: Path, involved: Involved[]): string | null {
  if (!covers(held, path.permission)) return `Missing permission ${path.permission}`
  for (const { subject, permissions } of involved) {
    const missing = permissions.find((p) => !covers(held, p))
    if (missing !== undefined) return `${subject} includes ${missing}, which the caller does not hold`
  }
  return null
}

const tally = { allowed: 0, denied: 0 }
// One app (one database) for the file; one org per actor kind.
const ctx: TestApp = await buildTestApp(t)

for (const kind of ACTOR_KINDS) {
  t.test(`actor: ${kind}`, async (t) => {
    const w = await buildOrgWorld(ctx, kind)
    for (const [name, path] of Object.entries(PATHS)) {
      const actor = w.actor(path.permission)
      for (const [target, setOf] of Object.entries(TARGETS)) {
        const label = `${kind} × ${name} × target ${target}`
        const cell = await path.cell(w, setOf(actor.held))
        const expected = refusal(actor.held, path, cell.involved)
        const send = async () => await ctx.app.inject({ ...cell.request, headers: { ...actor.headers, ...cell.request.headers } })
        if (expected === null) {
          tally.allowed++
          const res = await send()
          t.equal(res.statusCode, path.ok, `${label}: allowed (${res.body.slice(0, 200)})`)
          await cell.check?.(t, res)
          continue
        }
        tally.denied++
        const before = await readBack(ctx, w.orgId, cell.emails)
        const res = await send()
        const after = await readBack(ctx, w.orgId, cell.emails)
        if (path.denied !== undefined && !expected.startsWith('Missing permission')) {
          path.denied(t, res, expected)
          t.equal(after.audit_events!.length, before.audit_events!.length + 1, `${label}: the import itself is audited`)
          t.same(after.org_events!.filter((e) => !before.org_events!.includes(e)).map((e) => JSON.parse(e).type), ['members.imported'], `${label}: and is its only event`)
          delete after.audit_events
          delete before.audit_events
          delete after.org_events
          delete before.org_events
        } else {
          t.same({ status: res.statusCode, body: res.json() }, { status: 403, body: { error: 'ForbiddenError', message: expected, requestId: res.headers['x-request-id'] } }, `${label}: refused`)
        }
        t.same(after, before, `${label}: nothing written`)
      }
    }
  })
}

t.test('the matrix has both outcomes', async (t) => {
  t.comment(`cells allowed: ${tally.allowed}, denied: ${tally.denied}`)
  t.ok(tally.allowed > 0 && tally.denied > 0, 'neither "always allowed" nor "always refused" passes it')
})
