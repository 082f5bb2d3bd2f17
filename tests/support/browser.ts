import { chromium, type Browser } from 'playwright-core'
import { CHROMIUM_PATH } from './browser-path.js'

export { CHROMIUM_PATH }

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
] as const

/**
 * Launches headless Debian Chromium through playwright-core. `chromium.launch` gives every launch
 * a fresh temporary user-data-dir (removed on close), and each `browser.newContext()` is an
 * isolated profile with its own cookies, so tests never share state with each other or with a
 * developer's browser.
 * @example const browser = await launchBrowser(); const page = await (await browser.newContext()).newPage()
 */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS], headless: true, timeout: 60_000 })
}
