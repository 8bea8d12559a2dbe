// Request validation per part of the request: query strings, path parameters and headers
// arrive as text and are coerced to their schema's types ('20' → 20, 'true' → true); JSON
// bodies already carry their types and are validated as sent, so `{"name": 12345}` is a 400,
// never the string '12345'. Otherwise the options Fastify itself uses (formats, defaults).
import type { FastifySchemaCompiler } from 'fastify'
import { Ajv, type Options } from 'ajv'
import addFormatsModule from 'ajv-formats'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv
const BASE: Options = { removeAdditional: false, useDefaults: true, allErrors: false, addUsedSchema: false }

export function requestValidatorCompiler (): FastifySchemaCompiler<unknown> {
  const coercing = addFormats(new Ajv({ ...BASE, coerceTypes: 'array' }))
  const exact = addFormats(new Ajv({ ...BASE, coerceTypes: false }))
  return ({ schema, httpPart }) => (httpPart === 'body' ? exact : coercing).compile(schema as object)
}
