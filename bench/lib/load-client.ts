// The load generator of bench/load.ts in a process of its own (forked, one message per run), as
// a real client would be: autocannon's own work (sending, parsing 7 KB responses) then does not
// share the server's event loop. A run with `addPrefix` POSTs one new member per request.
import autocannon from 'autocannon'

export interface LoadRun {
  url: string
  connections: number
  seconds: number
  method?: 'GET' | 'POST'
  headers: Record<string, string>
  /** POST { users: [{ email: `${addPrefix}-${n}@example.com` }] }, n counting up. */
  addPrefix?: string
}

export interface LoadResult { rps: number, p50: number, p99: number, non2xx: number, errors: number, total: number }

let n = 0

async function run (r: LoadRun): Promise<LoadResult> {
  const result = await autocannon({
    url: r.url,
    connections: r.connections,
    duration: r.seconds,
    method: r.method ?? 'GET',
    headers: r.headers,
    ...(r.addPrefix !== undefined
      ? { requests: [{ setupRequest: (req: any) => ({ ...req, body: JSON.stringify({ users: [{ email: `${r.addPrefix}-${n++}@example.com` }], skipExisting: true }) }) }] }
      : {})
  })
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors, total: result.requests.total }
}

process.on('message', (message: LoadRun) => {
  run(message).then((result) => process.send!({ result }), (err: Error) => process.send!({ error: err.message }))
})
