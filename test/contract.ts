// Holds every JSON response the suite produces against openapi/swagger.yml, with Ajv (JSON
// Schema 2020-12, as OpenAPI 3.1) rather than Fastify's own serializer, so the spec and the
// behaviour cannot drift apart unnoticed.
import { readFileSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import $RefParser from '@apidevtools/json-schema-ref-parser'

type Json = Record<string, any>
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020
const raw = JSON.parse(readFileSync(new URL('../generated/openapi.json', import.meta.url), 'utf8')) as Json
const spec = await $RefParser.dereference(raw, { dereference: { circular: false } }) as Json
const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }))

const operations = new Map<string, Json>()
for (const item of Object.values(spec.paths as Json)) {
  for (const op of Object.values(item as Json)) if (op?.operationId) operations.set(op.operationId, op)
}
const compiled = new Map<string, ValidateFunction | null>()

function validatorFor (operationId: string, status: number): ValidateFunction | null | undefined {
  const key = `${operationId} ${status}`
  if (!compiled.has(key)) {
    const response = operations.get(operationId)?.responses?.[String(status)]
    if (response === undefined) return undefined
    const schema = response.content?.['application/json']?.schema
    compiled.set(key, schema ? ajv.compile(schema) : null)
  }
  return compiled.get(key)
}

/** `operationId status` of every reply the suite's apps sent (each one documented, or the test failed). */
export const repliesSeen = new Set<string>()

/**
 * Checks each response of `app` against the spec: its status must be one the operation
 * documents, and a JSON body must match that response's schema. A response that drifts from
 * it is replaced by a 500 (so the test's own status assertion fails) and printed on stderr.
 */
export function checkContract (app: FastifyInstance): void {
  const fail = (message: string): never => {
    console.error(`contract violation: ${message}`)
    throw new Error(`contract violation: ${message}`)
  }
  app.addHook('onSend', async (request, reply, payload) => {
    const operationId = request.routeOptions.config.operationId
    if (operationId === undefined) return payload
    const status = reply.statusCode
    const where = `${request.method} ${request.url} → ${status} (${operationId})`
    const validate = validatorFor(operationId, status)
    if (validate === undefined) fail(`${where}: status not in the spec`)
    repliesSeen.add(`${operationId} ${status}`)
    if (typeof payload !== 'string' || !validate || !String(reply.getHeader('content-type') ?? '').includes('json')) return payload
    if (!validate(JSON.parse(payload))) fail(`${where}: ${ajv.errorsText(validate.errors)}`)
    return payload
  })
}
