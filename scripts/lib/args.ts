// The command-line contract every operator script keeps: `--help` prints the help and exits 0;
// an unknown, malformed or missing option prints one line (what is wrong, then the usage) to
// stderr and exits 2, never a stack.
import { writeSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'

type Options = NonNullable<ParseArgsConfig['options']>
/** What parseArgs gives for these options (none of them `multiple`). */
type Values<O extends Options> = { [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : string }
/** The values, with the required ones known to be there. */
type Given<O extends Options, R extends keyof O> = Values<O> & { [K in R]-?: NonNullable<Values<O>[K]> }

/** Prints `<problem>; usage: <usage>` on one line and exits 2. */
export function usageError (usage: string, problem: string): never {
  // Written synchronously: process.exit right after a stream write can lose it.
  writeSync(2, `${problem}; usage: ${usage}\n`)
  process.exit(2)
}

/** node:util parseArgs' message, first sentence only ("Unknown option '--x'"). */
function reason (err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('. ')[0]!.replace(/\.$/, '')
}

/**
 * The parsed options (strict: no unknown option, no positional), `--help` answered with `help`,
 * and each of `required` present.
 */
export function parseCommandLine<O extends Options, R extends keyof O & string = never> (usage: string, help: string, options: O, required: readonly R[] = []): Given<O, R> {
  let values: Values<O> & { help?: boolean }
  try {
    // parseArgs' own result type cannot be resolved for a generic O; Values<O> is what it returns.
    values = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }).values as Values<O> & { help?: boolean }
  } catch (err) {
    return usageError(usage, reason(err))
  }
  if (values.help === true) { writeSync(1, `${help}\n`); process.exit(0) }
  for (const name of required) if (values[name] === undefined) usageError(usage, `--${name} is required`)
  return values as Given<O, R>
}
