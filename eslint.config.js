// neostandard: the Fastify organisation's own style (standard, with TypeScript support).
import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  ignores: ['generated/**', 'dist/**', 'packages/*/dist/**', 'bench/.build/**', '.tap/**', 'coverage/**']
})
