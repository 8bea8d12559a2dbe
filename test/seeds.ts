// The seeds' own OpenAPI fragments (../shared/seeds/*.md, beside the repository), read at test
// time rather than copied, so a response is held against exactly what a client generated from
// the seed expects. The shared directory sits beside the repository root; in a git worktree,
// beside the main checkout.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import $RefParser from '@apidevtools/json-schema-ref-parser'
import { Ajv, type ValidateFunction } from 'ajv'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'

type Json = Record<string, any>
const addFormats = addFormatsModule as unknown as <T>(ajv: T) => T
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')

function seedsDirectory (): string {
  const roots = [repoRoot]
  try {
    const common = execFileSync('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd: repoRoot, encoding: 'utf8' }).trim()
    roots.push(dirname(common))
  } catch {}
  const found = roots.map((root) => join(root, '..', 'shared', 'seeds')).find((dir) => existsSync(dir))
  if (found === undefined) throw new Error(`no shared/seeds directory beside ${roots.join(' or ')}`)
  return found
}

export interface SeedOperation {
  seed: string
  method: string
  path: string
  operation: Json
  /** The response schema of `status` in the seed (undefined: not listed; null: no JSON body). */
  validator: (status: number) => ValidateFunction | null | undefined
}

/** Every seed operation that ships an OpenAPI fragment (a ```yaml block headed by its method and path). */
export async function seedOperations (): Promise<SeedOperation[]> {
  const dir = seedsDirectory()
  const result: SeedOperation[] = []
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.md')).sort()) {
    const text = readFileSync(join(dir, file), 'utf8')
    const block = /^(`{3,})yaml\s+\S+\s+(get|post|put|patch|delete)\s+(\S+)\s*\n([\s\S]*?)^\1\s*$/m.exec(text)
    if (block === null) continue
    const [, , method, path, body] = block as unknown as [string, string, string, string, string]
    const spec = await $RefParser.dereference(parse(body) as Json, { dereference: { circular: false } }) as Json
    const operation = spec.paths[path][method] as Json
    const ajv = String(spec.openapi).startsWith('3.1')
      ? addFormats(new Ajv2020({ strict: false, allErrors: true }))
      : addFormats(new Ajv({ strict: false, allErrors: true }))
    result.push({
      seed: file,
      method: method.toUpperCase(),
      path,
      operation,
      validator: (status) => {
        const response = operation.responses?.[String(status)]
        if (response === undefined) return undefined
        const schema = response.content?.['application/json']?.schema
        return schema ? ajv.compile(schema) : null
      }
    })
  }
  return result
}
