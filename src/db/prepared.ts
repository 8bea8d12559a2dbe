// Prepared statements for the hot read paths (an API key's lookup, a page of members, the kept
// total): built and compiled by Kysely once per process, then only their parameters change; on
// PostgreSQL each connection also parses and plans them once (named statements) instead of on
// every request. PGlite runs them like any other query. Each is a module-level constant of one
// fixed shape, so a connection keeps a handful; none may select `*`, because a column added
// later would change the row type of a statement already prepared.
import { CompiledQuery, type Compilable, type Kysely } from 'kysely'
import pg from 'pg'
import type { Database } from './schema.ts'

const namesBySql = new Map<string, string>()

export interface PreparedStatement<Args extends readonly unknown[], Row> {
  execute: (db: Kysely<Database>, ...args: Args) => Promise<Row[]>
}

interface Compiled<Args extends readonly unknown[]> {
  sql: string
  bind: (args: Args) => unknown[]
}

/**
 * `build` must use each argument once as a value, unchanged, and build the same shape for any
 * values: it runs once, with placeholders, and the compiled statement is reused.
 */
export function preparedStatement<Args extends readonly unknown[], Row> (
  build: (db: Kysely<Database>, ...args: Args) => Compilable<Row>
): PreparedStatement<Args, Row> {
  let compiled: Compiled<Args> | undefined
  return {
    async execute (db, ...args) {
      compiled ??= compile(db, build, args.length)
      return (await db.executeQuery<Row>(CompiledQuery.raw(compiled.sql, compiled.bind(args)))).rows
    }
  }
}

function compile<Args extends readonly unknown[], Row> (db: Kysely<Database>, build: (db: Kysely<Database>, ...args: Args) => Compilable<Row>, arity: number): Compiled<Args> {
  const placeholders = Array.from({ length: arity }, (_, i) => `\u0000orgroster-argument-${i}\u0000`)
  const { sql, parameters } = build(db, ...(placeholders as unknown as Args)).compile()
  if (/select \*|"\.\*/.test(sql)) throw new Error('prepared statement: name its columns (select * would change its row type when a column is added)')
  const slots = parameters.map((value) => placeholders.indexOf(value as string))
  placeholders.forEach((_, i) => {
    if (slots.filter((slot) => slot === i).length !== 1) throw new Error(`prepared statement: argument ${i} must be used once, unchanged, as a value`)
  })
  const constants = parameters.slice()
  if (!namesBySql.has(sql)) namesBySql.set(sql, `orgroster_${namesBySql.size + 1}`)
  return { sql, bind: (args) => slots.map((slot, i) => (slot === -1 ? constants[i] : args[slot])) }
}

/** A `pg` client that sends the prepared statements by name (pg prepares each once per connection). */
export class PreparingClient extends pg.Client {
  override query (...args: any[]): any {
    const [text, values] = args
    const name = typeof text === 'string' && args.length <= 2 ? namesBySql.get(text) : undefined
    if (name === undefined) return (super.query as (...a: any[]) => any)(...args)
    return super.query({ name, text, values })
  }
}
