import type { MiddlewareHandler } from 'hono'
/**
 * A middleware that sets fixed response headers once the handler has answered; with `overwrite: false` a header the
 * handler set itself is kept. (Hono's `secureHeaders` does the same with a table of every header it knows, which the
 * worker bundle would carry for the four headers used here: infra/README.md, The worker bundle.)
 */
const fixedHeaders = (headers: Readonly<Record<string, string>>, overwrite = true): MiddlewareHandler =>
  async function fixedHeaders(c, next) {
    await next()
    for (const [name, value] of Object.entries(headers)) if (overwrite || !c.res.headers.has(name)) c.res.headers.set(name, value)
  }

/**
 * `X-Content-Type-Options: nosniff` on every answer, so no browser reads a JSON error (which may echo a client's
 * text) as HTML or script. Other protective headers (HSTS, cross-origin policies…) are a deployment's choice, made at
 * its TLS proxy.
 * @example app.use(noSniff())
 */
export const noSniff = (): MiddlewareHandler => fixedHeaders({ 'X-Content-Type-Options': 'nosniff' })

/**
 * The Content-Security-Policy of the gateway's HTML pages (the dashboard and `/docs`): no inline code, the
 * stylesheets and scripts come from the gateway itself, QR images are `data:` URLs, and no other site may frame them.
 */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'"

/**
 * The HTML pages' headers: `PAGE_CSP`, `X-Frame-Options: DENY` for browsers without `frame-ancestors`, and
 * `Referrer-Policy: same-origin`. A handler that sets its own (the dashboard's media answers) keeps it.
 * @example app.use('/docs', pageHeaders())
 */
export const pageHeaders = (): MiddlewareHandler =>
  fixedHeaders(
    {
      'Referrer-Policy': 'same-origin',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Content-Security-Policy': PAGE_CSP,
    },
    false,
  )

/**
 * `Cache-Control: no-store` on every answer that does not set its own: API answers carry message contents, phone
 * numbers and session state, which no browser or proxy cache should keep.
 * @example app.use(noStore())
 */
export const noStore = (): MiddlewareHandler =>
  async function noStore(c, next) {
    await next()
    if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store')
  }
