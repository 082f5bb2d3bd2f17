/**
 * The shared contract suite (tests/support/contract.ts) against `createApp` on Node, the reference the worker is
 * held to in worker.test.ts. PGlite here; the API's own tests cover every engine in depth.
 */
import { describe } from 'vitest'
import { createTestApp, TEST_API_KEY, type TestApp } from '../support/app.js'
import { defineContractTests, type ContractTarget } from '../support/contract.js'
import { describeEachEngine } from '../support/db.js'

describeEachEngine(
  'contract on Node (createApp)',
  (ctx) => {
    let app: TestApp | undefined
    const target = (): ContractTarget => {
      app ??= createTestApp(ctx.db)
      return { apiKey: TEST_API_KEY, db: ctx.db, fetch: (path, init) => Promise.resolve(app!.app.request(path, init)) }
    }
    describe('contract', () => defineContractTests(target))
  },
  { engines: ['pglite'] },
)
