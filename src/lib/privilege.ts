// The privilege ceiling (SECURITY.md, "privilege model"): nobody grants what they do not hold.
// A caller's held set is its role's permissions (a member) or its own list (an API key). Every
// path that assigns a role, acts on a member, manages an API key or defines a role asks this one
// place whether the permission sets involved are covered by the held set.
import { ForbiddenError } from './errors.ts'
import { permits } from './permissions.ts'

/** The first permission of `needed` that `held` does not grant (wildcards as `permits`), or undefined when all are covered. */
export function firstUncovered (held: readonly string[], needed: readonly string[]): string | undefined {
  return needed.find((p) => !permits(held, p))
}

/** The refusal's message: what was refused and the first permission the caller lacks. */
export function uncoveredMessage (subject: string, missing: string): string {
  return `${subject} includes ${missing}, which the caller does not hold`
}

/**
 * Throws a 403 ForbiddenError unless `held` covers `needed`. `subject` names what carries the
 * permissions, as the message shows it: "Role owner", "API key ci", "The new permission set".
 */
export function assertCovered (held: readonly string[], needed: readonly string[], subject: string): void {
  const missing = firstUncovered(held, needed)
  if (missing !== undefined) throw new ForbiddenError(uncoveredMessage(subject, missing))
}
