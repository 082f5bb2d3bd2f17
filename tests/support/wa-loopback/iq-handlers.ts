import {
  getBinaryNodeChild,
  getBinaryNodeChildBuffer,
  getBinaryNodeChildren,
  type BinaryNode
} from '@whiskeysockets/baileys'
import type { LoopbackConnection } from './connection.js'
import type { LoopbackContext } from './context.js'
import { deliverOfflineBacklog } from './login.js'
import { answerUsync } from './usync.js'
import { answerGroupIq } from './group-messages.js'

/**
 * Answers the IQs a logged-in Baileys sends: the login sequence (pre-key count and upload, `passive active`, digest),
 * the init queries after `open` (props, blocklist, privacy), keep-alive pings, USync, pre-key bundle fetches and the
 * media connection. Anything else gets an empty result and a log line: Baileys resolves an unanswered query only
 * after `defaultQueryTimeoutMs`, which would stall whatever waits on it.
 */
const result = (iq: BinaryNode, content?: BinaryNode[]): BinaryNode => ({
  tag: 'iq',
  attrs: { from: 's.whatsapp.net', type: 'result', id: iq.attrs.id! },
  ...(content && { content })
})

const readUInt = (bytes: Uint8Array | undefined) => (bytes?.length ? Buffer.from(bytes).readUIntBE(0, bytes.length) : 0)

export async function answerIq(ctx: LoopbackContext, conn: LoopbackConnection, iq: BinaryNode): Promise<void> {
  const device = conn.device
  if (!device) {
    // before login only our own pair-device IQ gets answered, by the client
    return
  }
  if (iq.attrs.xmlns === 'w:g2') return conn.send(answerGroupIq(ctx, device, iq))
  const first = Array.isArray(iq.content) ? iq.content[0] : undefined
  const key = `${iq.attrs.xmlns ?? ''} ${iq.attrs.type ?? ''} ${first?.tag ?? ''}`
  switch (key) {
    case 'encrypt get count':
      return conn.send(result(iq, [{ tag: 'count', attrs: { value: String(device.preKeys.size) } }]))
    case 'encrypt set registration': {
      // the pre-key upload: keep the bundle, simulated contacts build their sessions from it
      for (const keyNode of getBinaryNodeChildren(getBinaryNodeChild(iq, 'list'), 'key')) {
        const value = getBinaryNodeChildBuffer(keyNode, 'value')
        if (value) device.preKeys.set(readUInt(getBinaryNodeChildBuffer(keyNode, 'id')), Buffer.from(value))
      }
      const skey = getBinaryNodeChild(iq, 'skey')
      if (skey) device.signedPreKey = signedPreKeyOf(skey)
      return conn.send(result(iq))
    }
    case 'encrypt set rotate': {
      const skey = getBinaryNodeChild(first, 'skey')
      if (skey) device.signedPreKey = signedPreKeyOf(skey)
      return conn.send(result(iq))
    }
    case 'encrypt get digest':
      // an answer without <digest/> makes Baileys re-upload its pre-keys at every login
      return conn.send(result(iq, [{ tag: 'digest', attrs: {} }]))
    case 'encrypt get key':
      return conn.send(result(iq, [{ tag: 'list', attrs: {}, content: bundlesFor(ctx, first!) }]))
    case 'passive set active':
      await conn.send(result(iq))
      return deliverOfflineBacklog(ctx, conn)
    case 'usync get usync':
      return conn.send(answerUsync(ctx, device, iq))
    case 'w:m set media_conn':
      return conn.send(ctx.media.mediaConnNode(iq.attrs.id!))
    case 'abt get props':
      return conn.send(result(iq, [{ tag: 'props', attrs: { protocol: '1', hash: 'loopback' } }]))
    case 'blocklist get ':
      return conn.send(result(iq, [{ tag: 'list', attrs: {} }]))
    case 'privacy get privacy':
      return conn.send(result(iq, [{ tag: 'privacy', attrs: {}, content: PRIVACY_SETTINGS }]))
    case 'md set remove-companion-device':
      // sock.logout(): the companion unlinks itself and then closes with 401
      ctx.directory.unlink(device)
      return conn.send(result(iq))
    default:
      if (key !== 'w:p get ping' && key !== 'passive set passive' && key !== 'privacy set tokens') {
        conn.log.debug({ xmlns: iq.attrs.xmlns, type: iq.attrs.type, child: first?.tag }, 'unknown iq, empty result')
      }
      return conn.send(result(iq))
  }
}

const PRIVACY_SETTINGS: BinaryNode[] = [
  ['readreceipts', 'all'],
  ['last', 'all'],
  ['online', 'all'],
  ['profile', 'all'],
  ['status', 'all'],
  ['groupadd', 'all'],
  ['calladd', 'all']
].map(([name, value]) => ({ tag: 'category', attrs: { name: name!, value: value! } }))

function signedPreKeyOf(skey: BinaryNode) {
  return {
    keyId: readUInt(getBinaryNodeChildBuffer(skey, 'id')),
    public: Buffer.from(getBinaryNodeChildBuffer(skey, 'value') ?? []),
    signature: Buffer.from(getBinaryNodeChildBuffer(skey, 'signature') ?? [])
  }
}

/**
 * `<key><user jid/>…</key>`: one bundle per requested user. Contacts (device 0 of any number) answer with their own
 * identity; a request for a paired companion (e.g. another device of the same account) gets that device's upload.
 */
function bundlesFor(ctx: LoopbackContext, keyNode: BinaryNode): BinaryNode[] {
  return getBinaryNodeChildren(keyNode, 'user').map(user => {
    const jid = user.attrs.jid!
    const phone = ctx.directory.phoneOfJid(jid)
    const deviceId = Number(jid.split('@')[0]?.split(':')[1] ?? 0)
    if (!phone) {
      return { tag: 'user', attrs: { jid }, content: [{ tag: 'error', attrs: { code: '404', text: 'item-not-found' } }] }
    }
    if (deviceId === 0) return ctx.contacts.get(phone).bundleNode(jid)
    const companion = ctx.directory.device(phone, deviceId)
    if (!companion) {
      return { tag: 'user', attrs: { jid }, content: [{ tag: 'error', attrs: { code: '404', text: 'item-not-found' } }] }
    }
    return companionBundle(jid, companion)
  })
}

function companionBundle(jid: string, companion: NonNullable<ReturnType<LoopbackContext['directory']['device']>>): BinaryNode {
  const [preKeyId, preKey] = companion.preKeys.entries().next().value ?? []
  if (preKeyId !== undefined) companion.preKeys.delete(preKeyId)
  const be = (n: number, bytes: number) => {
    const b = Buffer.alloc(bytes)
    b.writeUIntBE(n, 0, bytes)
    return b
  }
  return {
    tag: 'user',
    attrs: { jid },
    content: [
      { tag: 'registration', attrs: {}, content: be(companion.registrationId, 4) },
      { tag: 'type', attrs: {}, content: Buffer.from([5]) },
      { tag: 'identity', attrs: {}, content: Buffer.from(companion.identityPublic) },
      {
        tag: 'skey',
        attrs: {},
        content: [
          { tag: 'id', attrs: {}, content: be(companion.signedPreKey.keyId, 3) },
          { tag: 'value', attrs: {}, content: Buffer.from(companion.signedPreKey.public) },
          { tag: 'signature', attrs: {}, content: Buffer.from(companion.signedPreKey.signature) }
        ]
      },
      ...(preKey && preKeyId !== undefined
        ? [{ tag: 'key', attrs: {}, content: [
            { tag: 'id', attrs: {}, content: be(preKeyId, 3) },
            { tag: 'value', attrs: {}, content: Buffer.from(preKey) }
          ] } satisfies BinaryNode]
        : [])
    ]
  }
}
