import t from 'tap'
import { buildApp } from '../src/app.ts'
import { testConfig } from './helper.ts'
import { checkContract } from './contract.ts'

t.test('the contract check catches a response that drifts from the spec', async (t) => {
  const app = await buildApp(testConfig())
  t.teardown(() => app.close())
  checkContract(app)
  // Routes posing as documented operations, answering what the spec does not allow.
  app.get('/drift/body', { config: { operationId: 'getHealth' } }, async () => ({ status: 'bogus' }))
  app.get('/drift/status', { config: { operationId: 'getHealth' } }, async (_request, reply) => reply.code(418).send({ status: 'ok' }))
  await app.ready()
  const errors: string[] = []
  const original = console.error
  console.error = (message: string) => { errors.push(message) }
  try {
    t.equal((await app.inject('/drift/body')).statusCode, 500)
    t.equal((await app.inject('/drift/status')).statusCode, 500)
    t.equal((await app.inject('/healthz')).statusCode, 200, 'a conforming response passes')
  } finally {
    console.error = original
  }
  t.match(errors[0], /contract violation: GET \/drift\/body → 200 \(getHealth\): data\/status must be equal to one of the allowed values/)
  t.match(errors[1], /status not in the spec/)
})
