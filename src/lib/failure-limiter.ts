// Counts failed authentications per client address in fixed windows, so a caller guessing
// tokens or keys is turned away (429) before any verification or database work. In memory, or
// in Redis when the instances share one, so a fleet limits an address as one instance would.
import type { Redis } from 'ioredis'

export interface FailureCounter {
  /** Milliseconds until `key` may try again, or 0 when it may try now. */
  blockedFor: (key: string) => Promise<number>
  fail: (key: string) => Promise<void>
}

export class FailureLimiter implements FailureCounter {
  private readonly windows = new Map<string, { count: number, resetAt: number }>()

  constructor (private readonly max: number, private readonly windowMs: number) {}

  async blockedFor (key: string, now = Date.now()): Promise<number> {
    const w = this.windows.get(key)
    if (!w || w.resetAt <= now) return 0
    return w.count >= this.max ? w.resetAt - now : 0
  }

  async fail (key: string, now = Date.now()): Promise<void> {
    const w = this.windows.get(key)
    if (!w || w.resetAt <= now) {
      // Forget expired windows now and then, so the map cannot grow without bound.
      if (this.windows.size > 10_000) for (const [k, v] of this.windows) if (v.resetAt <= now) this.windows.delete(k)
      this.windows.set(key, { count: 1, resetAt: now + this.windowMs })
    } else {
      w.count++
    }
  }
}

/** The same fixed windows as keys in Redis that expire with their window. */
export class RedisFailureLimiter implements FailureCounter {
  constructor (
    private readonly redis: Redis,
    private readonly max: number,
    private readonly windowMs: number,
    /** Called when Redis cannot answer; the request is then let through. */
    private readonly onError: (err: Error) => void,
    private readonly prefix = 'orgroster-af:'
  ) {}

  async blockedFor (key: string): Promise<number> {
    try {
      const [count, ttl] = await Promise.all([this.redis.get(this.prefix + key), this.redis.pttl(this.prefix + key)])
      return Number(count ?? 0) >= this.max && ttl > 0 ? ttl : 0
    } catch (err) {
      this.onError(err as Error)
      return 0
    }
  }

  async fail (key: string): Promise<void> {
    try {
      // The window starts at the first failure: created with its expiry, then counted.
      await this.redis.multi().set(this.prefix + key, 0, 'PX', this.windowMs, 'NX').incr(this.prefix + key).exec()
    } catch (err) {
      this.onError(err as Error)
    }
  }
}
