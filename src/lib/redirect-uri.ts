// Redirect URIs of OAuth clients: absolute URLs only.
/**
 * Why a redirect URI is refused, or null when it is an absolute URL a client may be sent to:
 * a scheme, a host for http(s), no fragment (RFC 6749 3.1.2), no script-bearing scheme.
 */
export function redirectUriProblem (value: string): string | null {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return 'must be an absolute URL'
  }
  if (!/^[a-z][a-z0-9+.-]*:/i.test(value)) return 'must be an absolute URL'
  if (['javascript:', 'data:', 'vbscript:', 'file:', 'blob:'].includes(url.protocol)) return `must not use the ${url.protocol} scheme`
  if ((url.protocol === 'http:' || url.protocol === 'https:') && url.hostname === '') return 'must name a host'
  if (value.includes('#')) return 'must not contain a fragment'
  return null
}
