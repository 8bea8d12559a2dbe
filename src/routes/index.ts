// Every operation of openapi/swagger.yml, bound to its handler. `satisfies Handlers` makes an
// operation without a handler a compile error.
import type { FastifyInstance } from 'fastify'
import { registerOperations, type Handlers } from './operations.ts'
import { healthHandlers } from './health.ts'
import { docsHandlers } from './docs.ts'
import { orgHandlers } from './v2/orgs.ts'
import { memberExportHandlers } from './v2/member-export.ts'

export const handlers = {
  ...healthHandlers,
  ...docsHandlers,
  ...orgHandlers,
  ...memberExportHandlers
} satisfies Handlers

export default async function allRoutes (app: FastifyInstance): Promise<void> {
  registerOperations(app, handlers)
}
