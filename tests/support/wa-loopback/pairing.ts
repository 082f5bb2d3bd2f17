import { randomBytes, randomInt } from 'node:crypto'
import {
  Curve,
  generateSignalPubKey,
  getBinaryNodeChild,
  hmacSign,
  proto,
  WA_ADV_ACCOUNT_SIG_PREFIX,
  WA_ADV_DEVICE_SIG_PREFIX,
  type BinaryNode
} from '@whiskeysockets/baileys'
import { verifySignature } from 'libsignal/src/curve.js'
import type { LoopbackConnection } from './connection.js'
import type { CompanionDevice, Directory } from './directory.js'
import { lidJid, normalizePhone, pnJid } from './directory.js'
import { unixSeconds } from './context.js'

/**
 * QR pairing, server side. A registering client gets `pair-device` refs (Baileys turns each into one QR). A "scan" of
 * that QR, which is what the phone does, answers with `pair-success` carrying an ADV identity signed by the account
 * key and HMAC'd with the advSecretKey the QR revealed; after the client's `pair-device-sign`, the server asks for the
 * 515 restart, and the next connection logs in with the new identity.
 */
type Registration = {
  conn: LoopbackConnection
  refs: string[]
  noisePublic: Buffer
  identityPublic: Buffer
  registrationId: number
  signedPreKey: { keyId: number; public: Buffer; signature: Buffer }
}

/** Parsed `https://wa.me/settings/linked_devices#ref,noiseKey,identityKey,advSecretKey,platform` (rc10+ format). */
export type ScannedQr = { ref: string; noisePublic: Buffer; identityPublic: Buffer; advSecretKey: Buffer }

export class ScanError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message)
  }
}

/** How many refs (QR codes) one registration gets before Baileys gives up with 408 "QR refs attempts ended". */
const REFS_PER_REGISTRATION = 6
const PAIR_SIGN_TIMEOUT_MS = 10_000

export function parsePairingQr(qr: string): ScannedQr {
  const fields = qr.includes('#') ? qr.slice(qr.indexOf('#') + 1).split(',') : qr.split(',')
  const [ref, noise, identity, adv] = fields
  if (fields.length < 4 || !ref || !noise || !identity || !adv) {
    throw new ScanError(400, 'qr must be the string Baileys emitted: <ref>,<noiseKey>,<identityKey>,<advSecretKey>[,…]')
  }
  return {
    ref,
    noisePublic: Buffer.from(noise, 'base64'),
    identityPublic: Buffer.from(identity, 'base64'),
    advSecretKey: Buffer.from(adv, 'base64')
  }
}

export class PairingDesk {
  private readonly byRef = new Map<string, Registration>()
  private readonly awaitingSign = new Map<string, (node: BinaryNode) => void>()

  constructor(private readonly directory: Directory) {}

  /** Registers a connection whose ClientPayload carried `devicePairingData`, and sends it its QR refs. */
  async startRegistration(conn: LoopbackConnection, pairing: proto.ClientPayload.IDevicePairingRegistrationData, noisePublic: Buffer) {
    const { eRegid, eIdent, eSkeyId, eSkeyVal, eSkeySig } = pairing
    if (!eRegid || !eIdent || !eSkeyId || !eSkeyVal || !eSkeySig) {
      throw new Error('registration payload without a complete Signal bundle')
    }
    const refs = Array.from({ length: REFS_PER_REGISTRATION }, () => `2@${randomBytes(24).toString('base64')}`)
    const registration: Registration = {
      conn,
      refs,
      noisePublic,
      identityPublic: Buffer.from(eIdent),
      registrationId: Buffer.from(eRegid).readUIntBE(0, eRegid.length),
      signedPreKey: {
        keyId: Buffer.from(eSkeyId).readUIntBE(0, eSkeyId.length),
        public: Buffer.from(eSkeyVal),
        signature: Buffer.from(eSkeySig)
      }
    }
    for (const ref of refs) this.byRef.set(ref, registration)
    await conn.send({
      tag: 'iq',
      attrs: { from: 's.whatsapp.net', type: 'set', id: randomBytes(4).toString('hex'), xmlns: 'md' },
      // Baileys dispatches on the first child, so pair-device must come first
      content: [
        {
          tag: 'pair-device',
          attrs: {},
          content: refs.map(ref => ({ tag: 'ref', attrs: {}, content: Buffer.from(ref) }))
        }
      ]
    })
  }

  forget(conn: LoopbackConnection): void {
    for (const [ref, registration] of this.byRef) if (registration.conn === conn) this.byRef.delete(ref)
  }

  /** A reply from the client to one of our IQs; returns true if it was a pair-device-sign we were waiting for. */
  acceptReply(node: BinaryNode): boolean {
    const waiter = this.awaitingSign.get(node.attrs.id ?? '')
    if (!waiter) return false
    this.awaitingSign.delete(node.attrs.id!)
    waiter(node)
    return true
  }

  /** What the phone does when it reads the QR. Resolves with the new device once the client has signed it. */
  async scan(qr: string, requestedPhone?: string): Promise<CompanionDevice> {
    const scanned = parsePairingQr(qr)
    const registration = this.byRef.get(scanned.ref)
    if (!registration || !registration.conn.isOpen) {
      throw new ScanError(404, 'no connection is showing this QR (expired, already scanned, or never shown)')
    }
    if (
      !registration.noisePublic.equals(scanned.noisePublic) ||
      !registration.identityPublic.equals(scanned.identityPublic)
    ) {
      throw new ScanError(400, 'the QR keys do not match the connection that received this ref')
    }
    const phone = requestedPhone ? normalizePhone(requestedPhone) : this.directory.generatePhone()
    const account = this.directory.ensureAccount(phone)
    const deviceId = account.nextDeviceId++
    const device: CompanionDevice = {
      phone,
      lid: account.lid,
      deviceId,
      keyIndex: deviceId,
      noisePublic: registration.noisePublic,
      identityPublic: registration.identityPublic,
      registrationId: registration.registrationId,
      signedPreKey: registration.signedPreKey,
      preKeys: new Map()
    }
    for (const ref of registration.refs) this.byRef.delete(ref)

    const details = proto.ADVDeviceIdentity.encode({
      rawId: randomInt(1, 2 ** 31),
      timestamp: Math.floor(Date.now() / 1000),
      // mandatory: Baileys calls keyIndex.toString() when it signs
      keyIndex: device.keyIndex
    }).finish()
    const accountSignature = Curve.sign(
      account.accountKey.private,
      Buffer.concat([WA_ADV_ACCOUNT_SIG_PREFIX, details, registration.identityPublic])
    )
    const signedIdentity = proto.ADVSignedDeviceIdentity.encode({
      details,
      accountSignatureKey: account.accountKey.public,
      accountSignature
    }).finish()
    const hmac = hmacSign(signedIdentity, scanned.advSecretKey)
    const iqId = randomBytes(4).toString('hex')
    const signed = new Promise<BinaryNode>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.awaitingSign.delete(iqId)
        reject(new ScanError(504, 'the client did not answer pair-success with pair-device-sign'))
      }, PAIR_SIGN_TIMEOUT_MS)
      this.awaitingSign.set(iqId, node => {
        clearTimeout(timer)
        resolve(node)
      })
    })
    await registration.conn.send({
      tag: 'iq',
      attrs: { from: 's.whatsapp.net', type: 'set', id: iqId, t: unixSeconds() },
      content: [
        {
          tag: 'pair-success',
          attrs: {},
          content: [
            {
              tag: 'device-identity',
              attrs: {},
              content: proto.ADVSignedDeviceIdentityHMAC.encode({ details: signedIdentity, hmac }).finish()
            },
            { tag: 'device', attrs: { jid: pnJid(phone, deviceId), lid: lidJid(account.lid, deviceId) } },
            { tag: 'platform', attrs: { name: 'android' } }
          ]
        }
      ]
    })
    const reply = await signed
    verifyDeviceSignature(reply, details, registration.identityPublic, account.accountKey.public)
    account.devices.set(deviceId, device)
    // the real server then asks the client to reconnect, which it does as a login
    await registration.conn.sendAndClose({ tag: 'stream:error', attrs: { code: '515' } })
    return device
  }
}

/** The client's counter-signature proves it holds the identity key it registered. */
function verifyDeviceSignature(reply: BinaryNode, details: Uint8Array, identityPublic: Buffer, accountPublic: Uint8Array) {
  const identityNode = getBinaryNodeChild(getBinaryNodeChild(reply, 'pair-device-sign'), 'device-identity')
  if (!(identityNode?.content instanceof Uint8Array)) {
    throw new ScanError(502, 'pair-device-sign without a device identity')
  }
  const signed = proto.ADVSignedDeviceIdentity.decode(identityNode.content)
  const message = Buffer.concat([WA_ADV_DEVICE_SIG_PREFIX, details, identityPublic, accountPublic])
  // libsignal's verifySignature returns false for a bad signature; Baileys' Curve.verify (rc14) discards that result
  // and only fails on malformed input, so it cannot be used to check anything here
  if (!signed.deviceSignature || !verifySignature(generateSignalPubKey(identityPublic), message, signed.deviceSignature)) {
    throw new ScanError(502, 'the device signature in pair-device-sign does not verify')
  }
}
