import type { Context } from 'hono'

/**
 * The dashboard's stylesheet and scripts, named once for both ways of serving them: the path under the dashboard's
 * base, the file name among the Workers static assets, and the headers. The text itself is in `assets.ts`; the Node
 * app answers from it (`assetsFromCode`), and the Workers entry from the same text, written into its static assets by
 * `npm run build:worker` (infra/build-worker.ts asks the Node app for these paths), which keeps about 13 KiB of CSS and
 * JavaScript out of the worker's script, whose size is budgeted.
 */
const CACHED = 'public, max-age=300'

export const DASHBOARD_ASSETS = {
  style: { path: '/assets/style.css', file: 'dashboard/style.css', headers: { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': CACHED } },
  live: { path: '/assets/live.js', file: 'dashboard/live.js', headers: { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': CACHED } },
  send: { path: '/assets/send.js', file: 'dashboard/send.js', headers: { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': CACHED } },
} as const satisfies Record<string, { path: string; file: string; headers: Record<string, string> }>

export type DashboardAsset = keyof typeof DASHBOARD_ASSETS

/** How the dashboard answers one of its assets: from code (Node, `assetsFromCode`) or from the worker's static assets. */
export type DashboardAssetSource = (asset: DashboardAsset) => (c: Context) => Response | Promise<Response>
