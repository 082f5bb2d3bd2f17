import type { MiddlewareHandler } from 'hono'
import { secureHeaders } from 'hono/secure-headers'

/**
 * The response headers of the API's own answers, each from Hono's `secureHeaders` with only the headers named here
 * switched on: its other defaults (HSTS, cross-origin policies…) are a deployment's choice, made at its TLS proxy.
 */
const NONE_OF_THE_DEFAULTS = {
  crossOriginEmbedderPolicy: false,
  crossOriginResourcePolicy: false,
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  referrerPolicy: false,
  strictTransportSecurity: false,
  xContentTypeOptions: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xFrameOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
  removePoweredBy: false,
} as const

/**
 * `X-Content-Type-Options: nosniff` on every answer, so no browser reads a JSON error (which may echo a client's
 * text) as HTML or script.
 * @example app.use(noSniff())
 */
export const noSniff = (): MiddlewareHandler => secureHeaders({ ...NONE_OF_THE_DEFAULTS, xContentTypeOptions: true })

/**
 * The Content-Security-Policy of the gateway's HTML pages (the dashboard and `/docs`): no inline code, the
 * stylesheets and scripts come from the gateway itself, QR images are `data:` URLs, and no other site may frame them.
 */
export const PAGE_CSP = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
}

/**
 * The HTML pages' headers: `PAGE_CSP`, `X-Frame-Options: DENY` for browsers without `frame-ancestors`, and
 * `Referrer-Policy: same-origin`. A handler that sets its own (the dashboard's media answers) keeps it.
 * @example app.use('/docs', pageHeaders())
 */
export const pageHeaders = (): MiddlewareHandler =>
  secureHeaders({
    ...NONE_OF_THE_DEFAULTS,
    contentSecurityPolicy: PAGE_CSP,
    xFrameOptions: 'DENY',
    referrerPolicy: 'same-origin',
    xContentTypeOptions: true,
    overwrite: false,
  })

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
