// Array parameters: `x = any($1::uuid[])` is one bind parameter whatever the list's length,
// where `x in ($1, …, $n)` is n of them (PostgreSQL's limit is 65,535) and a new plan per n.
import { sql, type RawBuilder } from 'kysely'

/** `= any(values)`: the right-hand side of a `where(column, '=', anyOf(…))`. */
export function anyOf (values: readonly string[], type: 'uuid' | 'text'): RawBuilder<string> {
  return sql<string>`any(${values}::${sql.raw(type)}[])`
}
