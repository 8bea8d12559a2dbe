// Typed errors, thrown anywhere; the errors plugin turns them into each API family's body.
export interface ErrorExtra { [key: string]: unknown }

export class AppError extends Error {
  constructor (readonly statusCode: number, readonly kind: string, message: string, readonly extra: ErrorExtra = {}) {
    super(message)
  }
}

// Error text can echo input (an unknown property's name, a filter value): clipped to the
// spec's maxLength, so a caller cannot make an error body as large as its request.
const MAX_ERROR_TEXT = 1000
export function clipErrorText (text: string): string {
  return text.length > MAX_ERROR_TEXT ? text.slice(0, MAX_ERROR_TEXT) : text
}

export class ValidationError extends AppError {
  constructor (message: string, details?: Array<{ field: string, message: string }>) {
    super(400, 'ValidationError', message,
      details ? { details: details.map((d) => ({ field: clipErrorText(d.field), message: clipErrorText(d.message) })) } : {})
  }
}
export class AuthenticationError extends AppError {
  constructor (message = 'Unauthenticated') { super(401, 'AuthenticationError', message) }
}
export class ForbiddenError extends AppError {
  constructor (message = 'Forbidden') { super(403, 'ForbiddenError', message) }
}
export class NotFoundError extends AppError {
  constructor (message = 'Not found') { super(404, 'NotFoundError', message) }
}
export class ConflictError extends AppError {
  constructor (message: string, conflicts?: unknown[]) {
    super(409, 'ConflictError', message, conflicts ? { conflicts } : {})
  }
}
export class PayloadTooLargeError extends AppError {
  constructor (message: string) { super(413, 'PayloadTooLargeError', message) }
}
export class UnsupportedMediaTypeError extends AppError {
  constructor (message: string) { super(415, 'UnsupportedMediaTypeError', message) }
}
/** Which limit refused: per credential, failed authentications per address, or export slots. */
export type RateLimitKind = 'requests' | 'auth_failures' | 'export_slots'

export class RateLimitError extends AppError {
  constructor (message: string, retryAfterMs: number, readonly limit: RateLimitKind) {
    super(429, 'RateLimitError', message, { retryAfterMs: Math.max(0, Math.ceil(retryAfterMs)) })
  }
}
export class ServiceUnavailableError extends AppError {
  constructor (message = 'Service temporarily unavailable, try again shortly') {
    super(503, 'ServiceUnavailableError', message)
  }
}
