// @orgroster/sdk: a typed client for orgroster, generated from openapi/swagger.yml (no type is
// written by hand here), plus helpers where raw HTTP is awkward. Relative imports here say
// `.js` so the declarations tsc emits to dist/ resolve in any consumer project.
import type { components, operations, paths } from '../../../generated/openapi.js'
import { createClientFor, type OrgrosterClient, type OrgrosterOptions } from './client.js'
import { downloadMemberExport, importMembersCsv, type CsvSource, type DownloadOptions, type DownloadResult, type ImportOptions, type MemberImportResult } from './files.js'
import { iterateMembers, iteratePublicMembers, type MemberFilters, type OrgMembership, type PublicMember, type PublicMemberOptions } from './members.js'
import { iterateEvents, type EventQuery, type OrgEvent } from './events.js'

export { OrgrosterError, isOrgrosterError, unwrap, type ApiErrorBody, type DataOf, type ErrorOf, type Result } from './errors.js'
export {
  dispositionFilename, type CsvSource, type DownloadOptions, type DownloadResult, type ExportProgress, type ImportOptions,
  type MemberExportFilters, type MemberExportQuery, type MemberImportQuery, type MemberImportResult
} from './files.js'
export type { MemberFilters, OrgMembership, PublicMember, PublicMemberOptions } from './members.js'
export type { EventQuery, OrgEvent } from './events.js'
export type { OrgrosterClient, OrgrosterOptions } from './client.js'
export type { components, operations, paths }
/** Every schema of the spec by name, e.g. `Schemas['Organization']`. */
export type Schemas = components['schemas']

/** openapi-fetch's typed `GET`, `POST`... plus the helpers. Helpers throw OrgrosterError. */
export interface Orgroster extends OrgrosterClient {
  /** Every membership of an org (members and invitations), newest first, across all pages. */
  iterateMembers: (orgSlug: string, filters?: MemberFilters) => AsyncGenerator<OrgMembership>
  /** Every member of the public list of an org (by id), newest first, across all pages; `after` starts after a member id. */
  iteratePublicMembers: (orgId: string, options?: PublicMemberOptions) => AsyncGenerator<PublicMember>
  /** Streams the org's member export (CSV) to a file path (written whole or not at all) or a stream. */
  downloadMemberExport: (orgSlug: string, destination: string | NodeJS.WritableStream, options?: DownloadOptions) => Promise<DownloadResult>
  /** Imports members from CSV (a file path, a stream, bytes or `{ text }`), streamed to the server. */
  importMembersCsv: (orgSlug: string, source: CsvSource, options?: ImportOptions) => Promise<MemberImportResult>
  /** The org's events after `query.after` (an event id), oldest first, up to the newest. */
  iterateEvents: (orgSlug: string, query?: EventQuery) => AsyncGenerator<OrgEvent>
}

/** A client for one service and one credential. */
export function createOrgroster (options: OrgrosterOptions): Orgroster {
  const client = createClientFor(options)
  return Object.assign(client, {
    iterateMembers: (orgSlug: string, filters?: MemberFilters) => iterateMembers(client, orgSlug, filters),
    iteratePublicMembers: (orgId: string, opts?: PublicMemberOptions) => iteratePublicMembers(client, orgId, opts),
    downloadMemberExport: (orgSlug: string, destination: string | NodeJS.WritableStream, opts?: DownloadOptions) =>
      downloadMemberExport(client, orgSlug, destination, opts),
    importMembersCsv: (orgSlug: string, source: CsvSource, opts?: ImportOptions) => importMembersCsv(client, orgSlug, source, opts),
    iterateEvents: (orgSlug: string, query?: EventQuery) => iterateEvents(client, orgSlug, query)
  })
}
