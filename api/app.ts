/**
 * `createApp`: the app of `api/app-core.ts` with its API reference generated from the schemas at start and the
 * dashboard's stylesheet and scripts served from code. The Node entries and the tests use it; the Workers entry builds
 * the core app with both served from its static assets.
 */
import { createCoreApp, type App, type AppDeps } from './app-core.js'
import { assetsFromCode } from './dashboard/assets.js'
import { generatedReference } from './openapi.js'

export type { ApiReference, App, AppDeps } from './app-core.js'

/**
 * The whole HTTP API as one runtime-agnostic Hono app.
 * @example const app = createApp({ database: sharedDatabase(db), config: parseApiConfig(process.env), log })
 */
export function createApp(deps: AppDeps): App {
  return createCoreApp({ ...deps, reference: generatedReference, dashboardAssets: assetsFromCode })
}
