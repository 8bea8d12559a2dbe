// Where a webhook may point. Outside development (WEBHOOK_ALLOW_PRIVATE_NETWORKS=false) only
// https to public addresses: no loopback, private, link-local (cloud metadata), CGNAT, multicast
// or reserved range. The URL is checked when saved, and the address a delivery connects to is
// checked at every connection (webhook-sender.ts), so a name that resolves inside later (DNS
// rebinding) is refused too.
import { BlockList, isIP } from 'node:net'
import { ValidationError } from './errors.ts'

const blocked = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4]
] as const) blocked.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]
] as const) blocked.addSubnet(net, prefix, 'ipv6')

/** True for an address a webhook may not reach (IPv4-mapped IPv6 checked as IPv4). */
export function isPrivateAddress (address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return blocked.check(mapped[1]!, 'ipv4')
  const family = isIP(address)
  if (family === 0) return true
  return blocked.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

const invalid = (field: string, message: string) => new ValidationError(`${field} ${message}`, [{ field, message }])

/** The URL if a webhook may be saved with it; a 400 naming the problem otherwise. */
export function checkWebhookUrl (raw: string, allowPrivate: boolean, field = 'body/url'): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw invalid(field, 'is not a URL')
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) {
    throw invalid(field, allowPrivate ? 'must be an http or https URL' : 'must be an https URL')
  }
  if (url.username !== '' || url.password !== '') throw invalid(field, 'must not carry credentials')
  if (url.hash !== '') throw invalid(field, 'must not have a fragment')
  if (!allowPrivate) {
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '')
    if (host === 'localhost' || host.endsWith('.localhost') || (isIP(host) !== 0 && isPrivateAddress(host))) {
      throw invalid(field, 'must not point to a private, loopback or link-local address')
    }
  }
  return url
}
