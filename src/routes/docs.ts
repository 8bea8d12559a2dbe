// The spec as JSON and YAML, exactly as written in openapi/swagger.yml, and `/` pointing to Swagger UI.
import type { Handlers } from './operations.ts'

export const docsHandlers = {
  async getRoot (_request, reply) {
    return await reply.redirect('/docs')
  },
  async getOpenApiJson () {
    return this.swagger() as unknown as Record<string, never>
  },
  async getOpenApiYaml (_request, reply) {
    return reply.type('application/yaml; charset=utf-8').send(this.swagger({ yaml: true }))
  }
} satisfies Partial<Handlers>
