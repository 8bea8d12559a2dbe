// The SDK's events helpers over HTTP: iterateEvents walks the feed oldest first across pages and
// resumes after an id; verifyWebhook (the standardwebhooks library underneath) accepts a real
// delivery and refuses a tampered one.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { createOrgroster, unwrap } from '../packages/sdk/src/index.ts'
import { verifyWebhook, WebhookVerificationError } from '../packages/sdk/src/webhooks.ts'
import { ownerWithOrg } from './helper.ts'
import { listenTestApp } from './listen.ts'
import { startReceiver } from './webhook-receiver.ts'

t.test('iterateEvents and verifyWebhook', async (t) => {
  const ctx = await listenTestApp(t, { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', EVENTS_POLL_MS: '20' })
  const owner = await ownerWithOrg(ctx)
  const api = createOrgroster({ baseUrl: ctx.baseUrl, token: owner.token })
  const receiver = await startReceiver()
  t.teardown(receiver.close)
  const hook = await unwrap(api.POST('/v2/orgs/{orgSlug}/webhooks', { params: { path: { orgSlug: owner.slug } }, body: { url: receiver.url, events: ['invitation.created'] } }))
  await unwrap(api.POST('/v2/orgs/{orgSlug}/members', { params: { path: { orgSlug: owner.slug } }, body: { users: Array.from({ length: 230 }, () => ({ email: `e-${randomUUID()}@example.com` })) } }))

  const seqs: number[] = []
  for await (const e of api.iterateEvents(owner.slug)) seqs.push(e.seq)
  t.same(seqs, Array.from({ length: 231 }, (_, i) => i + 1), 'every event, oldest first, across three pages')
  const all = []
  for await (const e of api.iterateEvents(owner.slug, { types: 'invitation.created' })) all.push(e)
  t.equal(all.length, 230)
  const resumed = []
  for await (const e of api.iterateEvents(owner.slug, { after: all[199]!.id, types: 'invitation.created' })) resumed.push(e.seq)
  t.same(resumed, all.slice(200).map((e) => e.seq), 'resumes after the given event')

  const [got] = await receiver.waitFor((r) => r.length > 0)
  const raw = JSON.stringify(got!.body)
  const headers = got!.headers as Record<string, string>
  const event = verifyWebhook(hook.secret, raw, headers)
  t.match(event, { type: 'invitation.created', orgSlug: owner.slug, id: headers['webhook-id'] })
  t.throws(() => verifyWebhook(hook.secret, raw.replace('invitation', 'membership'), headers), WebhookVerificationError)
  t.throws(() => verifyWebhook(`whsec_${Buffer.from('another secret, 24 bytes').toString('base64')}`, raw, headers), WebhookVerificationError)
})
