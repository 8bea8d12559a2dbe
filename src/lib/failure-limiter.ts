// Counts failed authentications in fixed windows. A failure is counted twice: per (client
// address, credential fingerprint), with a low ceiling, so one caller retrying a bad credential
// is slowed down; and per address alone, with a much higher one, so a guesser who changes the
// credential every time is too. Only failures are refused: a request whose credential is valid
// is never limited here, so bad tokens sent through a shared address (a load balancer without
// TRUST_PROXY, an office NAT) cannot lock out the others. In memory, or in Redis when the
// instances share one, so a fleet counts as one instance would.
import type { Redis } from 'ioredis'

export interface FailureCounter {
  /** Counts one failure of `key`; returns the milliseconds left in its window once the count is past `max`, else 0. */
  fail: (key: string, max: number) => Promise<number>
}

export class FailureLimiter implements FailureCounter {
  private readonly windows = new Map<string, { count: number, resetAt: number }>()

  constructor (private readonly windowMs: number) {}

  async fail (key: string, max: number, now = Date.now()): Promise<number> {
    let w = this.windows.get(key)
    if (!w || w.resetAt <= now) {
      // Forget expired windows now and then, so the map cannot grow without bound.
      if (this.windows.size > 10_000) for (const [k, v] of this.windows) if (v.resetAt <= now) this.windows.delete(k)
      w = { count: 0, resetAt: now + this.windowMs }
      this.windows.set(key, w)
    }
    w.count++
    return w.count > max ? w.resetAt - now : 0
  }
}

/** The same fixed windows as keys in Redis that expire with their window. */
export class RedisFailureLimiter implements FailureCounter {
  constructor (
    private readonly redis: Redis,
    private readonly windowMs: number,
    /** Called when Redis cannot answer; the failure is then not counted. */
    private readonly onError: (err: Error) => void,
    private readonly prefix = 'orgroster-af:'
  ) {}

  async fail (key: string, max: number): Promise<number> {
    try {
      // The window starts at the first failure: created with its expiry, then counted.
      const k = this.prefix + key
      const replies = await this.redis.multi().set(k, 0, 'PX', this.windowMs, 'NX').incr(k).pttl(k).exec()
      const count = Number(replies?.[1]?.[1] ?? 0)
      const ttl = Number(replies?.[2]?.[1] ?? 0)
      return count > max && ttl > 0 ? ttl : 0
    } catch (err) {
      this.onError(err as Error)
      return 0
    }
  }
}
