/**
 * Every entry's settings fail with the same error type, `ConfigError` (db/shared/settings.ts): `npm start` composes
 * the API and the runner and prints any of them as one line by catching that type, and the Node API entry does the
 * same. A part that threw a plain Error (or its own class) would reach the user as a stack trace.
 */
import { describe, expect, it } from 'vitest'
import { parseApiConfig } from '../../api/config.js'
import { parseDashboardOptions } from '../../api/dashboard/index.js'
import { parseDbConfig } from '../../db/config.js'
import { parseMaintenanceConfig } from '../../db/maintenance/jobs.js'
import { ConfigError, intSetting, numberSetting, switchSetting, textSetting } from '../../db/shared/settings.js'
import { parseAuthStateKey, resolveAuthStateKey } from '../../runner/auth-key.js'
import { parseRunnerSettings } from '../../runner/compose.js'
import { parseRunnerConfig } from '../../runner/config.js'
import { parseWebhookConfig } from '../../runner/webhooks/config.js'
import { resolveWhatsAppEndpoint } from '../../runner/whatsapp/loopback-trust.js'

describe('one configuration error type', () => {
  it.each([
    ['API_SECRET', () => parseApiConfig({})],
    ['PORT', () => parseApiConfig({ API_SECRET: 'k', PORT: 'eighty' })],
    ['WEBHOOK_ALLOW_HOSTS (API)', () => parseApiConfig({ API_SECRET: 'k', WEBHOOK_ALLOW_PRIVATE: 'perhaps' })],
    ['DASHBOARD_COOKIE_SECRET', () => parseDashboardOptions({ DASHBOARD_COOKIE_SECRET: 'short' })],
    ['DATABASE_URL', () => parseDbConfig({ DATABASE_URL: 'oracle://x' })],
    ['RETENTION_DAYS', () => parseMaintenanceConfig({ RETENTION_DAYS: '0' })],
    ['MAINTENANCE', () => parseMaintenanceConfig({ MAINTENANCE: 'sometimes' })],
    ['THROTTLE_MAX_MS', () => parseRunnerConfig({ THROTTLE_MIN_MS: '5000', THROTTLE_MAX_MS: '1000' })],
    ['QUIET_HOURS_TZ', () => parseRunnerConfig({ QUIET_HOURS_TZ: 'Mars/Olympus' })],
    ['PRESENCE', () => parseRunnerConfig({ PRESENCE: 'sometimes' })],
    ['WEBHOOKS', () => parseWebhookConfig({ WEBHOOKS: 'maybe' })],
    ['WEBHOOK_LOCK_SECONDS', () => parseWebhookConfig({ WEBHOOK_LOCK_SECONDS: '1', WEBHOOK_TIMEOUT_MS: '5000' })],
    ['AUTH_STATE_KEY', () => parseAuthStateKey('not hex')],
    ['AUTH_STATE_KEY (server database)', () => resolveAuthStateKey({ engine: 'postgres', dataDir: '/nonexistent' })],
    ['WA_WEBSOCKET_URL', () => resolveWhatsAppEndpoint({ WA_WEBSOCKET_URL: 'ws://127.0.0.1:1/ws/chat' })],
    ['RUNNER_METRICS_PORT (composition)', () => parseRunnerSettings({ RUNNER_METRICS_PORT: '70000' })],
  ])('%s', (_name, parse) => {
    expect(parse).toThrow(ConfigError)
  })
})

describe('the shared settings parsers', () => {
  it('read whole numbers, decimals, text and switches, naming the variable when they refuse', () => {
    expect(intSetting({}, 'N', 7, 0, 10)).toBe(7)
    expect(intSetting({ N: ' 3 ' }, 'N', 7, 0, 10)).toBe(3)
    expect(() => intSetting({ N: '3.5' }, 'N', 7, 0, 10)).toThrow(/N must be a whole number/)
    expect(() => intSetting({ N: '-1' }, 'N', 7, 0, 10)).toThrow(/N must be between 0 and 10/)
    expect(numberSetting({ X: '0.25' }, 'X', 1, 0, 1)).toBe(0.25)
    expect(() => numberSetting({ X: 'NaN' }, 'X', 1, 0, 1)).toThrow(/X must be a number between 0 and 1/)
    expect(textSetting({ T: '  ' }, 'T', 'fallback')).toBe('fallback')
    expect(textSetting({ T: ' kept as written ' }, 'T', 'fallback')).toBe(' kept as written ')
    expect(() => textSetting({ T: 'x'.repeat(11) }, 'T', '', 10)).toThrow(/T is longer than 10/)
    expect([switchSetting({}, 'S', true), switchSetting({ S: 'OFF' }, 'S', true), switchSetting({ S: '1' }, 'S', false)]).toEqual([true, false, true])
    expect(() => switchSetting({ S: 'sometimes' }, 'S', true)).toThrow(/S must be "on" or "off"/)
  })
})
