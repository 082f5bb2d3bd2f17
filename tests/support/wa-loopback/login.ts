import type { LoopbackConnection } from './connection.js'
import { unixSeconds, type LoopbackContext } from './context.js'
import { lidJid } from './directory.js'
import { loginFailureNode } from './faults.js'
import { sendTracked } from './inbound.js'
import type { ClientHandshakeResult } from './noise.js'

/**
 * What the server does once the Noise handshake is complete: a ClientPayload with `devicePairingData` is a
 * registration (QR flow); otherwise it is a login of `username:device`, authenticated by the static Noise key the
 * device registered with. `<success lid>` is required: Baileys overwrites `creds.me.lid` with it.
 */
export async function acceptClient(ctx: LoopbackContext, conn: LoopbackConnection, result: ClientHandshakeResult) {
  const { payload, clientStaticPublic } = result
  const noisePublic = Buffer.from(clientStaticPublic)
  if (payload.devicePairingData) {
    await ctx.pairing.startRegistration(conn, payload.devicePairingData, noisePublic)
    return
  }
  const phone = payload.username == null ? '' : String(payload.username)
  const deviceId = payload.device ?? 0
  if (ctx.faults.refusedLogins.has(phone)) {
    conn.log.info({ phone }, 'refusing login (fault)')
    conn.terminate()
    return
  }
  const armedFailure = ctx.faults.loginFailures.get(phone)
  if (armedFailure) {
    await conn.sendAndClose(loginFailureNode(armedFailure))
    return
  }
  const device = ctx.directory.device(phone, deviceId)
  if (!device || !device.noisePublic.equals(noisePublic)) {
    // unknown or unlinked device: what WhatsApp answers a companion removed from the phone
    await conn.sendAndClose(loginFailureNode('401'))
    return
  }
  conn.device = device
  conn.isLoggedIn = true
  conn.latencyMs = ctx.faults.latencyMs.get(phone) ?? 0
  await conn.send({ tag: 'success', attrs: { t: unixSeconds(), lid: lidJid(device.lid, device.deviceId), props: '1' } })
}

/**
 * The device said `passive active`: deliver what waited while it was offline, then `<ib><offline count/>`, which makes
 * Baileys flush its buffered events (without it they wait 30 s).
 */
export async function deliverOfflineBacklog(ctx: LoopbackContext, conn: LoopbackConnection) {
  if (!conn.device) return
  const backlog = ctx.offline.drain(conn.device)
  for (const build of backlog) {
    const stanza = await build()
    // a message stays queued until this connection acknowledges it (inbound.ts); receipts are fire and forget
    if (stanza.tag === 'message') await sendTracked(conn, conn.device, stanza, build, true)
    else await conn.send({ ...stanza, attrs: { ...stanza.attrs, offline: '1' } })
  }
  await conn.send({ tag: 'ib', attrs: { from: 's.whatsapp.net' }, content: [{ tag: 'offline', attrs: { count: String(backlog.length) } }] })
}
