// Every operation of openapi/swagger.yml, bound to its handler. `satisfies Handlers` makes an
// operation without a handler a compile error.
import type { FastifyInstance } from 'fastify'
import { registerOperations, type Handlers } from './operations.ts'
import { healthHandlers } from './health.ts'
import { docsHandlers } from './docs.ts'
import { orgHandlers } from './v2/orgs.ts'
import { memberExportHandlers } from './v2/member-export.ts'
import { memberHandlers } from './v2/members.ts'
import { roleGroupHandlers } from './v2/roles-groups.ts'
import { apiKeyHandlers } from './v2/api-keys.ts'
import { publicHandlers } from './public/members.ts'
import { memberImportHandlers, memberImportRoutes } from './v2/member-import.ts'
import { applicationHandlers } from './admin/applications.ts'
import { adminExportHandlers } from './admin/exports.ts'
import { eventHandlers } from './v2/events.ts'

export const handlers = {
  ...healthHandlers,
  ...docsHandlers,
  ...orgHandlers,
  ...memberExportHandlers,
  ...memberHandlers,
  ...roleGroupHandlers,
  ...apiKeyHandlers,
  ...publicHandlers,
  ...memberImportHandlers,
  ...applicationHandlers,
  ...adminExportHandlers,
  ...eventHandlers
} satisfies Handlers

export default async function allRoutes (app: FastifyInstance): Promise<void> {
  // The CSV import takes its text/csv body as a stream, in a context of its own.
  const { importOrgMembers: _csvBody, ...jsonBodies } = handlers
  registerOperations(app, jsonBodies)
  await app.register(memberImportRoutes)
}
