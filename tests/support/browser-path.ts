/** Debian's chromium package (CI installs it); override with CHROMIUM_PATH. Never `npx playwright install`. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
