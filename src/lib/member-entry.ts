// The shape check of one membership entry, compiled from the spec's own schema for a POST
// /members entry (generated/routes.ts), with the same Ajv setup Fastify validates that body
// with: an import line is refused for what the JSON add refuses, with the same message
// (`email must match format "email"` here, `body/users/3/email must match format "email"`
// there). The import's own columns (status, names) are added to that schema.
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { routes } from '../../generated/routes.ts'

/** Display names a pending user can be given: more than a sign-in token in a 16 KiB header carries. */
export const MAX_NAME = 16384

const entry = (routes.addOrgMembers.schema.body as any).properties.users.items
const ajv = new Ajv({ removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false })
// ajv-formats is CommonJS; its types describe the ESM interop wrapper.
const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv
addFormats(ajv)
const name = { type: 'string', maxLength: MAX_NAME }
const check = ajv.compile({
  ...entry,
  properties: {
    ...entry.properties,
    status: { type: 'string', enum: ['active', 'invited', 'suspended'] },
    // The CSV's column names, so that a message names the column.
    firstName: name,
    lastName: name,
    fullName: name
  }
})

/** The first problem of an entry as `field message` (field relative to the entry), or null. */
export function entryProblem (value: Record<string, unknown>): string | null {
  if (check(value)) return null
  const issue = check.errors?.[0]
  return `${(issue?.instancePath ?? '').slice(1)} ${issue?.message ?? 'is invalid'}`.trim()
}
