export { createDashboard, parseDashboardOptions, type DashboardOptions, type DashboardSettings } from './create-dashboard.js'
export type { DashboardEnv } from './context.js'
export { assetsFromCode } from './assets.js'
export { DASHBOARD_ASSETS, type DashboardAsset, type DashboardAssetSource } from './asset-files.js'
