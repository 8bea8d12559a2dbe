// Swagger UI in a real browser (Debian's chromium driven by playwright-core): open /docs, see the
// Authorize dialog open on BearerAuth, list an org's members with the default parameters,
// authorize with a Bearer token, "Try it out" on org creation, the public member list and the
// CSV export (downloaded as a file), then authorize with an org API key instead. Screenshots
// go to test/artifacts/ (git-ignored).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { chromium, type Page } from 'playwright-core'
import { insertApiKey } from '../src/db/api-keys.ts'
import { seedMembers } from '../src/db/seed.ts'
import { databaseName, ownerWithOrg, randomSlug } from './helper.ts'
import { listenTestApp } from './listen.ts'

const CHROMIUM = '/usr/bin/chromium'
const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url))
t.comment(`database: ${databaseName}`)

/** Expands an operation, fills its parameters and body, executes it; returns status and body shown. */
async function tryItOut (page: Page, tag: string, operationId: string, params: Record<string, string>, body?: string): Promise<{ status: string, text: string }> {
  const op = page.locator(`#operations-${tag}-${operationId}`)
  await op.locator('.opblock-summary').first().click()
  const tryOut = op.locator('button.try-out__btn')
  if (await tryOut.count() > 0 && (await tryOut.textContent())?.trim() === 'Try it out') await tryOut.click()
  for (const [name, value] of Object.entries(params)) await op.locator(`tr[data-param-name="${name}"] input`).fill(value)
  if (body !== undefined) await op.locator('textarea.body-param__text').fill(body)
  await op.locator('button.execute').click()
  const status = op.locator('.live-responses-table .response .response-col_status').first()
  await status.waitFor({ timeout: 20_000 })
  await status.scrollIntoViewIfNeeded() // so a screenshot shows the answer
  return { status: (await status.textContent())?.trim() ?? '', text: (await op.locator('.live-responses-table .response .response-col_description').first().textContent()) ?? '' }
}

async function authorize (page: Page, scheme: string, value: string): Promise<void> {
  await page.click('button.authorize')
  const form = page.locator('.auth-container', { has: page.locator(`h4 code:text-is("${scheme}")`) })
  await form.locator('input').fill(value)
  await form.locator('button.authorize').click()
  await form.locator('button:has-text("Logout")').waitFor()
  await page.locator('.auth-btn-wrapper button.btn-done').first().click()
}

async function logout (page: Page, scheme: string): Promise<void> {
  await page.click('button.authorize')
  const form = page.locator('.auth-container', { has: page.locator(`h4 code:text-is("${scheme}")`) })
  await form.locator('button:has-text("Logout")').click()
  await page.locator('.auth-btn-wrapper button.btn-done').first().click()
}

t.test('Swagger UI: authorize, then Try it out end to end', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (.ci/run installs Debian's chromium)` }, async (t) => {
  const ctx = await listenTestApp(t)
  const owner = await ownerWithOrg(ctx)
  await seedMembers(ctx.app.db, owner.orgId, 30)
  const { raw: apiKey } = await insertApiKey(ctx.app.db, { orgId: owner.orgId, orgSlug: owner.slug, slug: 'docs', name: 'docs', permissions: ['orgs:read', 'orgs:members:read'] })

  const profile = mkdtempSync(join(tmpdir(), 'orgroster-chromium-'))
  t.teardown(() => rmSync(profile, { recursive: true, force: true }))
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
  })
  t.teardown(() => browser.close())
  const page = browser.pages()[0] ?? await browser.newPage()
  mkdirSync(artifacts, { recursive: true })

  await page.goto(`${ctx.baseUrl}/docs`)
  await page.locator('.swagger-ui .information-container').waitFor({ timeout: 30_000 })
  t.equal(await page.locator('.auth-container').count(), 0)
  // The Authorize dialog opens on BearerAuth (the JWT npm start prints): first, and on screen.
  await page.click('button.authorize')
  const first = page.locator('.auth-container').first()
  await first.waitFor()
  t.equal((await first.locator('h4 code').first().textContent())?.trim(), 'BearerAuth', 'BearerAuth is the first scheme in the dialog')
  const box = await first.locator('input').first().boundingBox()
  t.ok(box !== null && box.y >= 0 && box.y + box.height <= 900, 'its token field is visible without scrolling')
  await page.screenshot({ path: join(artifacts, 'swagger-ui-authorize.png'), fullPage: false })
  await page.locator('.auth-btn-wrapper button.btn-done').first().click()
  await authorize(page, 'BearerAuth', owner.token)

  // List Org Members as it opens: only the org's slug typed; no filter is pre-filled, so the
  // first call lists the members (Slug's example once filled roleSlug and group with 'acme').
  const list = page.locator('#operations-Organizations-listOrgMembers')
  await list.locator('.opblock-summary').first().click()
  const tryList = list.locator('button.try-out__btn')
  if ((await tryList.textContent())?.trim() === 'Try it out') await tryList.click()
  for (const name of ['roleSlug', 'group', 'q', 'userIds', 'cursor']) {
    t.equal(await list.locator(`tr[data-param-name="${name}"] input`).inputValue(), '', `${name} starts empty`)
  }
  await list.locator('.opblock-summary').first().click()
  const defaults = await tryItOut(page, 'Organizations', 'listOrgMembers', { orgSlug: owner.slug })
  t.equal(defaults.status, '200', 'the list with its default parameters answered 200')
  t.match(defaults.text, /"results": \[\s*\{/, 'and returned members')
  t.match(defaults.text, /"total": 31/)
  await list.locator('.opblock-summary').first().click() // collapsed again, as the page opened

  const slug = randomSlug('ui')
  const created = await tryItOut(page, 'Organizations', 'createOrganization', {}, JSON.stringify({ name: 'Made in Swagger UI', slug }))
  t.equal(created.status, '201', 'org creation answered 201 in the page')
  t.match(created.text, new RegExp(`"slug": "${slug}"`))

  const listed = await tryItOut(page, 'Members', 'listPublicOrgMembers', { orgId: owner.orgId, limit: '5' })
  t.equal(listed.status, '200', 'the public members list answered 200 in the page')
  t.match(listed.text, /"hasMore": true/)
  await page.screenshot({ path: join(artifacts, 'swagger-ui-bearer.png'), fullPage: false })

  const op = page.locator('#operations-Organizations-exportOrgMembers')
  // Executed as pre-filled: the first body example is `{}`, i.e. everyone.
  const exported = await tryItOut(page, 'Organizations', 'exportOrgMembers', { orgSlug: owner.slug })
  t.equal((await op.locator('textarea.body-param__text').inputValue()).trim(), '{}', 'Try it out pre-fills an empty filter')
  t.equal(exported.status, '200', 'the export answered 200 in the page')
  const [download] = await Promise.all([page.waitForEvent('download'), op.locator('a:has-text("Download file")').click()])
  t.match(download.suggestedFilename(), new RegExp(`^${owner.slug}-members-.*\\.csv$`))
  const csv = readFileSync(await download.path(), 'utf8')
  t.equal(csv.split('\r\n').length - 2, 31, 'the downloaded file holds every member')

  await logout(page, 'BearerAuth')
  await authorize(page, 'ApiKeyAuth', apiKey)
  const keyed = await tryItOut(page, 'Organizations', 'getOrganization', { orgSlug: owner.slug })
  t.equal(keyed.status, '200', 'the org API key works through Authorize')
  t.match(keyed.text, new RegExp(`"id": "${owner.orgId}"`))
  await logout(page, 'ApiKeyAuth')
  await authorize(page, 'OrgApiKeyAuth', apiKey)
  const members = await tryItOut(page, 'Organizations', 'listOrgMembers', { orgSlug: owner.slug })
  t.equal(members.status, '200', 'and in x-prismeai-api-key')
  await page.screenshot({ path: join(artifacts, 'swagger-ui-api-key.png'), fullPage: false })
})
