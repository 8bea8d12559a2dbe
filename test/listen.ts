// A test app that really listens (port 0, loopback), for tests that go over HTTP: the SDK, the
// browser, several instances. `inject` cannot show aborts, streaming or a second process.
import { createServer } from 'node:net'
import { buildTestApp, type TestApp } from './helper.ts'

export interface ListeningApp extends TestApp { baseUrl: string }

export async function listenTestApp (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string> = {}): Promise<ListeningApp> {
  const ctx = await buildTestApp(t, env)
  const baseUrl = await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  return { ...ctx, baseUrl }
}

/** A loopback port nothing listens on now (for a server a test starts, stops and starts again). */
export async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()))
  const port = (s.address() as { port: number }).port
  await new Promise((resolve) => s.close(resolve))
  return port
}
