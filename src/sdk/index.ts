// orgroster/sdk: a typed client for orgroster, generated from openapi/swagger.yml (no type is
// written by hand here), plus helpers where raw HTTP is awkward. Relative imports in src/sdk say
// `.js` so the declarations tsc emits to dist/ resolve in any consumer project.
import type { components, operations, paths } from '../../generated/openapi.js'
import { createClientFor, type OrgrosterClient, type OrgrosterOptions } from './client.js'

export { OrgrosterError, isOrgrosterError, unwrap, type ApiErrorBody, type DataOf, type ErrorOf, type Result } from './errors.js'
export type { OrgrosterClient, OrgrosterOptions } from './client.js'
export type { components, operations, paths }
/** Every schema of the spec by name, e.g. `Schemas['Organization']`. */
export type Schemas = components['schemas']

export type Orgroster = OrgrosterClient

/** A client for one service and one credential. `GET`, `POST`... are openapi-fetch's, typed by path. */
export function createOrgroster (options: OrgrosterOptions): Orgroster {
  return createClientFor(options)
}
