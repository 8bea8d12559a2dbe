// The spec is what Swagger UI, the SDK and every client read, so its documentation is checked
// like code: every operation, parameter and schema property has a description, every operation
// shows an example, and every example validates against its own schema (Ajv, JSON Schema
// 2020-12 as OpenAPI 3.1 uses, with the formats the service validates).
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse } from 'yaml'
import $RefParser from '@apidevtools/json-schema-ref-parser'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'

type Json = Record<string, any>
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

const raw = parse(await readFile(new URL('../openapi/swagger.yml', import.meta.url), 'utf8')) as Json
const spec = await $RefParser.dereference(structuredClone(raw), { dereference: { circular: false } }) as Json

const ajv = addFormats(new Ajv2020({ strict: true, allErrors: true }))
ajv.addKeyword('example')
ajv.addFormat('binary', true) // OpenAPI's marker for a file body; any string is one.

function operations (): Array<{ where: string, op: Json, params: Json[] }> {
  const out = []
  for (const [path, item] of Object.entries(spec.paths as Json)) {
    for (const method of METHODS) {
      if (item[method]) out.push({ where: `${method.toUpperCase()} ${path}`, op: item[method], params: [...(item.parameters ?? []), ...(item[method].parameters ?? [])] })
    }
  }
  return out
}

/** Calls visit(schema, pointer) on a schema and every subschema in it. */
function walkSchema (schema: unknown, where: string, visit: (s: Json, where: string) => void): void {
  if (schema === null || typeof schema !== 'object') return
  const s = schema as Json
  visit(s, where)
  for (const [name, prop] of Object.entries(s.properties ?? {})) walkSchema(prop, `${where}.${name}`, visit)
  if (s.items) walkSchema(s.items, `${where}[]`, visit)
  for (const key of ['allOf', 'anyOf', 'oneOf', 'prefixItems'] as const) {
    (s[key] ?? []).forEach((sub: unknown, i: number) => walkSchema(sub, `${where}.${key}[${i}]`, visit))
  }
  if (typeof s.additionalProperties === 'object') walkSchema(s.additionalProperties, `${where}{}`, visit)
}

/** Every schema of the document with where it sits: components, parameters, bodies, responses. */
function allSchemas (): Array<{ schema: Json, where: string }> {
  const roots: Array<{ schema: Json, where: string }> = []
  for (const [name, schema] of Object.entries(spec.components?.schemas ?? {})) roots.push({ schema: schema as Json, where: name })
  for (const { where, op, params } of operations()) {
    for (const p of params) roots.push({ schema: p.schema, where: `${where} parameter ${p.name}` })
    for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) roots.push({ schema: (media as Json).schema, where: `${where} body ${type}` })
    for (const [status, res] of Object.entries(op.responses ?? {})) {
      for (const [type, media] of Object.entries((res as Json).content ?? {})) roots.push({ schema: (media as Json).schema, where: `${where} ${status} ${type}` })
    }
  }
  return roots.filter((r) => r.schema)
}

function check (schema: Json, value: unknown): string | null {
  const validate = ajv.compile(schema)
  return validate(value) ? null : ajv.errorsText(validate.errors)
}

t.test('every operation has an operationId, a summary and a description; so do its parameters and responses', async (t) => {
  const missing: string[] = []
  const need = (value: unknown, what: string): void => { if (typeof value !== 'string' || !value.trim()) missing.push(what) }
  for (const { where, op, params } of operations()) {
    need(op.operationId, `${where} operationId`)
    need(op.summary, `${where} summary`)
    need(op.description, `${where} description`)
    for (const p of params) need(p.description, `${where} parameter ${p.name} description`)
    for (const [status, res] of Object.entries(op.responses ?? {})) need((res as Json).description, `${where} ${status} description`)
  }
  t.same(missing, [], `${operations().length} operations checked`)
})

t.test('every schema property has a description', async (t) => {
  const missing: string[] = []
  for (const { schema, where } of allSchemas()) {
    walkSchema(schema, where, (s, at) => {
      for (const [name, prop] of Object.entries(s.properties ?? {})) {
        if (!(prop as Json).description?.trim()) missing.push(`${at}.${name}`)
      }
    })
  }
  t.same([...new Set(missing)], [], 'properties without a description')
})

t.test('every example validates against its schema', async (t) => {
  const failures: string[] = []
  let checked = 0
  const expect = (schema: Json, value: unknown, where: string): void => {
    checked++
    const error = check(schema, value)
    if (error) failures.push(`${where}: ${error}`)
  }
  for (const { schema, where } of allSchemas()) {
    walkSchema(schema, where, (s, at) => {
      if ('example' in s) expect(s, s.example, `${at} example`)
      for (const [i, ex] of (s.examples ?? []).entries()) expect(s, ex, `${at} examples[${i}]`)
    })
  }
  for (const { where, op, params } of operations()) {
    for (const p of params) if ('example' in p) expect(p.schema, p.example, `${where} parameter ${p.name} example`)
    const media: Array<[string, Json]> = Object.entries(op.requestBody?.content ?? {}).map(([k, v]) => [`${where} body ${k}`, v as Json])
    for (const [status, res] of Object.entries(op.responses ?? {})) {
      for (const [k, v] of Object.entries((res as Json).content ?? {})) media.push([`${where} ${status} ${k}`, v as Json])
    }
    for (const [at, m] of media) {
      if (!m.schema) continue
      if ('example' in m) expect(m.schema, m.example, `${at} example`)
      for (const [name, ex] of Object.entries(m.examples ?? {})) expect(m.schema, (ex as Json).value, `${at} examples.${name}`)
    }
  }
  t.same(failures, [], `${checked} examples checked`)
  t.ok(checked > 10, 'the spec has examples to check')
})

/** True when the schema (or a subschema of an object/array) carries an example. */
function hasExample (schema: Json | undefined): boolean {
  if (!schema) return false
  if ('example' in schema || (schema.examples?.length ?? 0) > 0) return true
  if (schema.items && hasExample(schema.items)) return true
  return ['allOf', 'anyOf', 'oneOf'].some((k) => (schema[k] ?? []).some(hasExample))
}

t.test('every JSON request body and success response shows an example in Swagger UI', async (t) => {
  const missing: string[] = []
  for (const { where, op } of operations()) {
    const shown: Array<[string, Json]> = []
    const body = op.requestBody?.content?.['application/json']
    if (body) shown.push(['request body', body])
    for (const [status, res] of Object.entries(op.responses ?? {})) {
      const json = (res as Json).content?.['application/json']
      if (status.startsWith('2') && json) shown.push([`${status} response`, json])
    }
    for (const [what, media] of shown) {
      const schema = media.schema as Json
      const props = Object.values(schema.properties ?? {}) as Json[]
      // A free-form document (the spec itself) has nothing meaningful to exemplify.
      if (schema.type === 'object' && schema.additionalProperties === true && props.length === 0) continue
      const ok = 'example' in media || Object.keys(media.examples ?? {}).length > 0 || hasExample(schema) ||
        (props.length > 0 && props.some(hasExample))
      if (!ok) missing.push(`${where} ${what}`)
    }
  }
  t.same(missing, [], 'without an example')
})
