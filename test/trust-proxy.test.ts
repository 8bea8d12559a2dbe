// TRUST_PROXY (issue 11): behind a load balancer the failed-auth limiter counts the client the
// balancer names in X-Forwarded-For, so one client's bad tokens do not limit another's; without
// the setting, X-Forwarded-For is ignored (a client cannot pick its own address).
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { bearer, buildTestApp, databaseName, testConfig } from './helper.ts'

t.comment(`database: ${databaseName}`)

const PROXY = '10.0.0.5'
const limits = { AUTH_FAILURE_MAX: '2', AUTH_FAILURE_ADDRESS_MAX: '2' }

async function failures (app: Awaited<ReturnType<typeof buildTestApp>>['app'], client: string, n: number): Promise<number[]> {
  const statuses: number[] = []
  for (let i = 0; i < n; i++) {
    const res = await app.inject({ method: 'GET', url: '/v2/orgs', headers: { ...bearer(`bad${i}.x.y`), 'x-forwarded-for': client }, remoteAddress: PROXY })
    statuses.push(res.statusCode)
  }
  return statuses
}

t.test('with TRUST_PROXY naming the balancer, two clients behind it are limited separately', async (t) => {
  for (const setting of [PROXY, '10.0.0.0/24', '1']) {
    const { app } = await buildTestApp(t, { ...limits, TRUST_PROXY: setting })
    t.same(await failures(app, '198.51.100.1', 3), [401, 401, 429], `${setting}: the first client is limited`)
    t.same(await failures(app, '198.51.100.2', 2), [401, 401], `${setting}: the second client is not`)
  }
})

t.test('without TRUST_PROXY, X-Forwarded-For changes nothing: every client is the balancer', async (t) => {
  const { app } = await buildTestApp(t, limits)
  t.same(await failures(app, '198.51.100.1', 2), [401, 401])
  t.same(await failures(app, '198.51.100.2', 1), [429], 'another forwarded address is the same peer')
})

t.test('TRUST_PROXY values', async (t) => {
  t.equal(testConfig().TRUST_PROXY, false, 'off by default')
  t.equal(testConfig({ TRUST_PROXY: 'false' }).TRUST_PROXY, false)
  t.equal(testConfig({ TRUST_PROXY: '2' }).TRUST_PROXY, 2)
  t.same(testConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.7,::1,fd00::/8' }).TRUST_PROXY, ['10.0.0.0/8', '192.168.1.7', '::1', 'fd00::/8'])
  for (const bad of ['true', '0', '10.0.0.0/33', 'lb.internal', '10.0.0.1/8/1', '::1/129']) {
    t.throws(() => loadConfig({ NODE_ENV: 'test', TRUST_PROXY: bad }), /TRUST_PROXY/, bad)
  }
})
