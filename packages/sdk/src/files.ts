// Files in and out (Node): a member export downloaded to a file or stream with a row count as
// it arrives, and a CSV file streamed to the import (never read whole into memory). A download to a path goes to `<path>.part`
// and is renamed only once the server ended the transfer cleanly, so a cut transfer never
// leaves a short file that looks whole.
import { createReadStream, createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { Readable, Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { components, operations } from '../../../generated/openapi.js'
import type { OrgrosterClient } from './client.js'
import { OrgrosterError } from './errors.js'

export type MemberExportQuery = NonNullable<operations['exportOrgMembers']['parameters']['query']>
export type MemberExportFilters = components['schemas']['MemberExportRequest']
export type MemberImportQuery = NonNullable<operations['importOrgMembers']['parameters']['query']>
export type MemberImportResult = components['schemas']['MemberImportResult']

export interface ExportProgress {
  /** Data rows received so far (the header row not counted). */
  rows: number
  bytes: number
}

export interface DownloadOptions {
  /** Query parameters: filters, `columns`, `bom`. */
  query?: MemberExportQuery | undefined
  /** The same filters as a JSON body (the body wins where both name one). */
  filters?: MemberExportFilters | undefined
  /** Called as chunks arrive. */
  onProgress?: ((progress: ExportProgress) => void) | undefined
  signal?: AbortSignal | undefined
}

export interface DownloadResult extends ExportProgress {
  /** The name the server suggested (Content-Disposition). */
  filename: string | undefined
}

/** Counts CSV records as they pass: a line end outside quotes ends one (RFC 4180). */
class RowCounter extends Transform {
  records = 0
  bytes = 0
  private quoted = false
  constructor (private readonly onProgress?: (p: ExportProgress) => void) { super() }
  get rows (): number { return Math.max(0, this.records - 1) }
  override _transform (chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]
      if (byte === 0x22) this.quoted = !this.quoted
      else if (byte === 0x0a && !this.quoted) this.records++
    }
    this.bytes += chunk.length
    this.onProgress?.({ rows: this.rows, bytes: this.bytes })
    done(null, chunk)
  }
}

/** The suggested filename of a Content-Disposition header (RFC 6266 `filename*` first). */
export function dispositionFilename (header: string | null): string | undefined {
  if (header === null) return undefined
  const star = /filename\*=UTF-8''([^;]+)/i.exec(header)
  if (star) { try { return decodeURIComponent(star[1]!) } catch {} }
  return /filename="([^"]*)"/i.exec(header)?.[1]
}

/** Downloads an org's member export (CSV) to a file path or a writable stream. */
export async function downloadMemberExport (client: OrgrosterClient, orgSlug: string, destination: string | NodeJS.WritableStream, options: DownloadOptions = {}): Promise<DownloadResult> {
  const { data, error, response } = await client.POST('/v2/orgs/{orgSlug}/members/export', {
    params: { path: { orgSlug }, query: options.query ?? {} },
    ...(options.filters === undefined ? {} : { body: options.filters }),
    parseAs: 'stream',
    ...(options.signal === undefined ? {} : { signal: options.signal })
  })
  if (!response.ok || data == null) throw new OrgrosterError(response, error)
  const counter = new RowCounter(options.onProgress)
  const body = Readable.fromWeb(data as unknown as WebReadableStream<Uint8Array>)
  if (typeof destination !== 'string') {
    await pipeline(body, counter, destination)
  } else {
    const part = `${destination}.part`
    try {
      await pipeline(body, counter, createWriteStream(part))
      await rename(part, destination)
    } catch (err) {
      await rm(part, { force: true })
      throw err
    }
  }
  return { rows: counter.rows, bytes: counter.bytes, filename: dispositionFilename(response.headers.get('content-disposition')) }
}

export interface ImportOptions {
  /** `dryRun` (validate only) and `skipExisting` (default true). */
  query?: MemberImportQuery | undefined
  signal?: AbortSignal | undefined
}

/** CSV to import: a file path, `{ text }`, bytes, or a Node readable stream. */
export type CsvSource = string | { text: string } | Uint8Array | NodeJS.ReadableStream

function csvBody (source: CsvSource): BodyInit {
  if (source instanceof Uint8Array) return source as unknown as BodyInit
  if (typeof source === 'object' && 'text' in source) return source.text
  const stream = typeof source === 'string' ? createReadStream(source) : source
  return Readable.toWeb(Readable.from(stream as AsyncIterable<Uint8Array>)) as unknown as BodyInit
}

/** Imports members from CSV (the export's format), streamed as the request body. */
export async function importMembersCsv (client: OrgrosterClient, orgSlug: string, source: CsvSource, options: ImportOptions = {}): Promise<MemberImportResult> {
  const { data, error, response } = await client.POST('/v2/orgs/{orgSlug}/members/import', {
    params: { path: { orgSlug }, query: options.query ?? {} },
    // The spec types the body as a string; a stream goes through as is (fetch's half duplex).
    body: csvBody(source) as unknown as string,
    bodySerializer: (body: unknown) => body,
    headers: { 'content-type': 'text/csv; charset=utf-8' },
    duplex: 'half',
    ...(options.signal === undefined ? {} : { signal: options.signal })
  })
  if (!response.ok || data === undefined) throw new OrgrosterError(response, error)
  return data
}
