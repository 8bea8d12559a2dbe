// Redirect URIs of OAuth clients, by an allow rule (RFC 6749 §3.1.2, RFC 8252 §7, OAuth 2.0
// Security BCP): parsed with the WHATWG URL parser, and accepted only as
// - `https://host/...` with a host, no userinfo, no fragment, no wildcard;
// - `http://` only for a loopback IP literal (127.0.0.0/8, [::1]) for native apps (RFC 8252 §7.3);
// - a private-use scheme in reverse-DNS form, `com.example.app:/path` (RFC 8252 §7.1).
// Everything else is refused. The URI is stored in its WHATWG serialization (scheme and host
// lowercased, default port dropped) and a redirect is later matched against it exactly.

const REVERSE_DNS_SCHEME = /^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+:/i
// The literal form `scheme://` with an authority: the parser would accept `https:evil.test`
// and `http:///host` as if they were `https://evil.test`.
const WEB_FORM = /^https?:\/\/[^/\\?#]/i

function isLoopback (hostname: string): boolean {
  return hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname)
}

/** The normalized URI to store, or why the value is refused. */
export function normalizeRedirectUri (value: string): { uri: string } | { problem: string } {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return { problem: 'must be an absolute URL' }
  }
  if (value.includes('#')) return { problem: 'must not contain a fragment' }
  if (value.includes('*')) return { problem: 'must not contain a wildcard' }
  if (value.includes('\\')) return { problem: 'must not contain a backslash' }
  if (url.username !== '' || url.password !== '' || /^[^:]*:\/\/[^/?]*@/.test(value)) return { problem: 'must not contain userinfo' }
  if (url.protocol === 'https:' || url.protocol === 'http:') {
    if (!WEB_FORM.test(value) || url.hostname === '') return { problem: 'must name a host after //' }
    if (url.protocol === 'http:' && !isLoopback(url.hostname)) return { problem: 'may use http only for a loopback address (127.0.0.1 or [::1])' }
    return { uri: url.href }
  }
  if (!REVERSE_DNS_SCHEME.test(value)) return { problem: 'must use https, http for a loopback address, or a reverse-DNS private-use scheme (com.example.app:/path)' }
  return { uri: url.href }
}
