import { getBinaryNodeChild, type BinaryNode } from '@whiskeysockets/baileys'
import type { ConnectionHandlers, LoopbackConnection } from './connection.js'
import type { LoopbackContext } from './context.js'
import { requeueUnsettled, settleInbound } from './inbound.js'
import { answerIq } from './iq-handlers.js'
import { acceptClient } from './login.js'
import { acceptOutboundMessage } from './outbound.js'
import { recordPresence } from './presence.js'

/** Routes each stanza a client sends to the module that owns it. */
export function createStanzaRouter(ctx: LoopbackContext): ConnectionHandlers {
  return {
    onHandshake: (conn, result) => acceptClient(ctx, conn, result),
    async onNode(conn: LoopbackConnection, node: BinaryNode) {
      switch (node.tag) {
        case 'iq':
          if (node.attrs.type === 'result' || node.attrs.type === 'error') {
            // replies to our IQs: pair-device (nothing to do) and pair-success (pairing waits for it)
            ctx.pairing.acceptReply(node)
            return
          }
          // pairing by code happens on a registering connection, before any login
          if (!conn.device && getBinaryNodeChild(node, 'link_code_companion_reg')) return ctx.pairing.linkCodeStage(conn, node)
          // Baileys pings from the end of the handshake, registering or not; an unanswered ping closes a registration
          // that lasts longer than two keep-alive intervals with 408 "Connection was lost", long before its QR refs end
          if (!conn.device && node.attrs.xmlns === 'w:p' && getBinaryNodeChild(node, 'ping')) {
            return conn.send({ tag: 'iq', attrs: { from: 's.whatsapp.net', type: 'result', id: node.attrs.id! } })
          }
          return answerIq(ctx, conn, node)
        case 'message':
          return acceptOutboundMessage(ctx, conn, node)
        case 'receipt':
        case 'ack':
          // the client's receipts and acks settle the inbound messages they name (inbound.ts); no answer
          return settleInbound(conn, node)
        case 'presence':
        case 'chatstate':
          // recorded for GET /control/presence; no answer
          return recordPresence(ctx, conn, node)
        case 'ib':
          // telemetry needs no answer here
          return
        default:
          conn.log.debug({ tag: node.tag }, 'unhandled stanza')
      }
    },
    onClose(conn) {
      ctx.connections.delete(conn)
      requeueUnsettled(ctx, conn)
      ctx.pairing.forget(conn)
    }
  }
}
