// Counts failed authentications per client address in fixed windows, so a caller guessing
// tokens or keys is turned away (429) before any verification or database work. In memory:
// each instance limits on its own.
export class FailureLimiter {
  private readonly windows = new Map<string, { count: number, resetAt: number }>()

  constructor (private readonly max: number, private readonly windowMs: number) {}

  /** Milliseconds until `key` may try again, or 0 when it may try now. */
  blockedFor (key: string, now = Date.now()): number {
    const w = this.windows.get(key)
    if (!w || w.resetAt <= now) return 0
    return w.count >= this.max ? w.resetAt - now : 0
  }

  fail (key: string, now = Date.now()): void {
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
