/**
 * Telling a person at the terminal that WhatsApp cannot be reached at all (no name resolution, connection refused,
 * no route, timed out), which otherwise shows only in `/api/status` as `reconnecting after 408: WebSocket Error
 * (getaddrinfo ENOTFOUND web.whatsapp.com)` while the runner quietly retries.
 */

/** Socket errors of the network path itself, as Baileys passes them on in a close reason's message. */
const NETWORK_ERRORS = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|EPROTO)\b/

/** The cause to show when a transient close means WhatsApp was not reached at all; null for other closes. */
export function unreachableCause(reason: { code: number | null; message: string }): string | null {
  if (NETWORK_ERRORS.test(reason.message)) return reason.message
  // Baileys' own connect timeout (a firewall that drops packets rather than refusing them).
  if (reason.code === 408 && /timed out/i.test(reason.message)) return reason.message
  return null
}

export interface ReachabilityNotice {
  /** A session could not reach WhatsApp; said once until WhatsApp answers again. */
  unreachable(cause: string): void
  /** A session reached WhatsApp (a QR or a login); said once, and only after `unreachable`. */
  reachable(): void
}

/** Says it once for the whole process, however many sessions retry meanwhile. */
export function createReachabilityNotice(print: (text: string) => void): ReachabilityNotice {
  let down = false
  return {
    unreachable(cause) {
      if (down) return
      down = true
      print(
        `\n! WhatsApp cannot be reached from this machine (${cause}).\n` +
          '  The gateway keeps retrying. Check that this machine resolves and can connect to web.whatsapp.com\n' +
          '  on port 443: DNS, a firewall, or a proxy that must be passed. Messages wait in the queue meanwhile.\n\n',
      )
    },
    reachable() {
      if (!down) return
      down = false
      print('\n✓ WhatsApp can be reached again.\n\n')
    },
  }
}
