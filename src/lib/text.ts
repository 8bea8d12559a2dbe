// Strings PostgreSQL cannot store (NUL) or UTF-8 cannot encode (lone surrogates) are refused
// up front as a 400 naming the field, instead of failing in the database as a 500. The walk
// is iterative: a JSON body nested deeper than MAX_JSON_DEPTH is refused, never recursed into.
import { ValidationError } from './errors.ts'

// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** How deep objects and arrays may nest in a request (no operation needs more than a few levels). */
export const MAX_JSON_DEPTH = 32

/** The path of the first unstorable string in `value` (keys included), or null; a 400 past MAX_JSON_DEPTH. */
export function findUnstorable (value: unknown, path: string): string | null {
  const stack: Array<{ value: unknown, path: string, depth: number, key?: string }> = [{ value, path, depth: 0 }]
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    if (next.key !== undefined && UNSTORABLE.test(next.key)) return next.path
    if (typeof next.value === 'string') {
      if (UNSTORABLE.test(next.value)) return next.path
      continue
    }
    if (next.value === null || typeof next.value !== 'object') continue
    if (next.depth >= MAX_JSON_DEPTH) {
      throw new ValidationError(`${path} is nested deeper than ${MAX_JSON_DEPTH} levels`, [{ field: path, message: `is nested deeper than ${MAX_JSON_DEPTH} levels` }])
    }
    const entries = Object.entries(next.value)
    // Pushed in reverse, so the first unstorable string in document order is found first.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i]!
      stack.push({ value: item, path: `${next.path}/${key}`, depth: next.depth + 1, key })
    }
  }
  return null
}

/** A LIKE/ILIKE pattern matching text that contains `part` literally (`%`, `_` and `\` escaped). */
export function containing (part: string): string {
  return `%${part.replace(/[\\%_]/g, '\\$&')}%`
}
