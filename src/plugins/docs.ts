// Serves the spec itself (static mode, not a re-derivation) and Swagger UI at /docs.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import spec from '../../generated/openapi.json' with { type: 'json' }

// Swagger UI gives every field of the Authorize dialog autofocus, so the last scheme's field
// wins and the dialog opens scrolled past BearerAuth, the first. When the dialog appears, this
// puts it back at the top with the Bearer token's field focused.
const AUTHORIZE_OPENS_ON_BEARER = `new MutationObserver(() => {
  const dialog = document.querySelector('.dialog-ux .modal-ux-content')
  if (dialog === null || dialog.dataset.opened === 'true') return
  dialog.dataset.opened = 'true'
  dialog.scrollTop = 0
  const first = dialog.querySelector('input')
  if (first !== null) first.focus({ preventScroll: true })
}).observe(document.body, { childList: true, subtree: true })`

export default fp(async function docs (app) {
  await app.register(swagger, { mode: 'static', specification: { document: structuredClone(spec) as any } })
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { persistAuthorization: true, displayRequestDuration: true, tryItOutEnabled: true },
    theme: { js: [{ filename: 'authorize-dialog.js', content: AUTHORIZE_OPENS_ON_BEARER }] },
    staticCSP: false
  })
}, { name: 'docs' })
