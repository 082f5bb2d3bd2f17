export { createDashboard, parseDashboardOptions, type DashboardOptions } from './create-dashboard.js'
export type { DashboardEnv } from './context.js'
