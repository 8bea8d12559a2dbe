// A test app that really listens (port 0, loopback), for tests that go over HTTP: the SDK, the
// browser, several instances. `inject` cannot show aborts, streaming or a second process.
import { buildTestApp, type TestApp } from './helper.ts'

export interface ListeningApp extends TestApp { baseUrl: string }

export async function listenTestApp (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string> = {}): Promise<ListeningApp> {
  const ctx = await buildTestApp(t, env)
  const baseUrl = await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  return { ...ctx, baseUrl }
}
