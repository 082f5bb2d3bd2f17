export { createDashboard, parseDashboardOptions, type DashboardOptions, type DashboardSettings } from './create-dashboard.js'
export type { DashboardEnv } from './context.js'
