import { createConfig, lintFromString } from '@redocly/openapi-core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createApp } from '../../api/app.js'
import { parseApiConfig } from '../../api/config.js'

const KEY = 'openapi-document-test-key'
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const

/** The app as an entry builds it; no route here reads the database, so a request that would reach it fails loudly. */
function app() {
  return createApp({
    config: parseApiConfig({ API_SECRET: KEY }),
    database: () => {
      throw new Error('this test reads no database')
    },
  })
}

async function documentOf(a: ReturnType<typeof app>): Promise<{ paths: Record<string, Record<string, { operationId?: string; tags?: string[] }>>; tags: { name: string }[] }> {
  const res = await a.request('/api/openapi.json', { headers: { 'X-API-Key': KEY } })
  expect(res.status).toBe(200)
  return res.json()
}

/** `METHOD /path/{param}` for every route the app serves outside the dashboard and the unkeyed extras. */
function servedRoutes(a: ReturnType<typeof app>): Set<string> {
  const served = new Set<string>()
  for (const r of a.routes) {
    // `app.use` middleware is listed with method ALL; it serves nothing on its own.
    if (r.method === 'ALL') continue
    if (!(r.path.startsWith('/api/') || r.path === '/healthz' || r.path === '/readyz')) continue
    served.add(`${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`)
  }
  return served
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('/api/openapi.json', () => {
  it('documents every served /api route and serves every documented one', async () => {
    const a = app()
    const doc = await documentOf(a)
    const documented = new Set<string>()
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of METHODS) if (item[method]) documented.add(`${method.toUpperCase()} ${path}`)
    }
    const served = servedRoutes(a)
    expect(served.size).toBeGreaterThan(20)
    expect([...served].filter((r) => !documented.has(r)), 'served but not documented').toEqual([])
    expect([...documented].filter((r) => !served.has(r)), 'documented but not served').toEqual([])
  })

  it('gives every operation a unique operationId and one declared tag', async () => {
    const doc = await documentOf(app())
    const declared = new Set(doc.tags.map((t) => t.name))
    const ids: string[] = []
    for (const item of Object.values(doc.paths)) {
      for (const method of METHODS) {
        const op = item[method]
        if (!op) continue
        expect(op.operationId).toMatch(/^[a-z][A-Za-z]+$/)
        ids.push(op.operationId!)
        expect(op.tags).toHaveLength(1)
        expect(declared.has(op.tags![0]!)).toBe(true)
      }
    }
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('shows each field as the rules the app checks it with', async () => {
    type Field = Record<string, unknown>
    const doc = (await documentOf(app())) as unknown as { paths: Record<string, Record<string, { requestBody: { content: Record<string, { schema: { properties: Record<string, Field> } }> } }>> }
    const body = (path: string, method: string) => doc.paths[path]![method]!.requestBody.content['application/json']!.schema.properties
    const send = body('/api/send', 'post')
    // Code-point lengths (valibot's minCodePoints/maxCodePoints) are JSON Schema's minLength/maxLength.
    expect(send.message).toMatchObject({ type: 'string', minLength: 1, maxLength: 4096 })
    // An optional field is shown by its value, with its fallback; the field's own example replaces its value's.
    expect(send.session).toMatchObject({ type: 'string', default: 'default', examples: ['default'] })
    expect(send.session).not.toHaveProperty('anyOf')
    // A nullable setting keeps its keywords at the top, with null in its type list.
    expect(body('/api/sessions/{name}', 'patch').daily_cap).toMatchObject({ type: ['integer', 'null'], minimum: 0, maximum: 100000 })
  })

  it('passes Redocly\'s recommended rules with no warning, offline', async () => {
    const doc = await documentOf(app())
    // The linter must not need the network: every rule it runs is bundled, the document has no external $ref.
    const fetchSpy = vi.spyOn(globalThis, 'fetch').mockRejectedValue(new Error('the linter tried to fetch'))
    const config = await createConfig({ extends: ['recommended'], rules: { 'operation-tag-defined': 'error' } })
    const problems = await lintFromString({ source: JSON.stringify(doc), absoluteRef: '/api/openapi.json', config })
    const found = problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer ?? ''}: ${p.message}`)
    expect(found).toEqual([])
    expect(fetchSpy).not.toHaveBeenCalled()
  })
})
