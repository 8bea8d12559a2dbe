// Strings PostgreSQL cannot store (NUL) or UTF-8 cannot encode (lone surrogates) are refused
// up front as a 400 naming the field, instead of failing in the database as a 500.
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** The path of the first unstorable string in `value` (keys included), or null. */
export function findUnstorable (value: unknown, path: string): string | null {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path : null
  if (value === null || typeof value !== 'object') return null
  for (const [key, item] of Object.entries(value)) {
    if (UNSTORABLE.test(key)) return `${path}/${key}`
    const found = findUnstorable(item, `${path}/${key}`)
    if (found !== null) return found
  }
  return null
}

/** A LIKE/ILIKE pattern matching text that contains `part` literally (`%`, `_` and `\` escaped). */
export function containing (part: string): string {
  return `%${part.replace(/[\\%_]/g, '\\$&')}%`
}
