import { randomBytes, randomInt } from 'node:crypto'
import {
  aesDecryptCTR,
  aesDecryptGCM,
  aesEncryptCTR,
  Curve,
  derivePairingCodeKey,
  generateSignalPubKey,
  getBinaryNodeChild,
  getBinaryNodeChildBuffer,
  hkdf,
  hmacSign,
  proto,
  WA_ADV_ACCOUNT_SIG_PREFIX,
  WA_ADV_DEVICE_SIG_PREFIX,
  type BinaryNode,
  type KeyPair
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
 *
 * Pairing by code (Baileys `requestPairingCode`) is the same ending reached another way, with the real key exchange:
 * 1. companion_hello: the client registers a phone number and its ephemeral public key, wrapped (AES-CTR) under a key
 *    derived from the 8-character code (PBKDF2-SHA256, 2^17 rounds, random salt); the server answers with a ref.
 * 2. The phone enters the code (`enterCode`, control route `POST /control/pair-code`): the server, as the phone,
 *    unwraps the companion key with it, wraps a fresh primary ephemeral key the same way and sends the
 *    `link_code_companion_reg` notification with the phone's identity key.
 * 3. companion_finish: the client sends its identity key, the phone's and 32 random bytes, sealed (AES-GCM) under
 *    HKDF(DH(companion ephemeral, primary ephemeral)). Only the right code opens it. Both sides then derive the new
 *    advSecretKey = HKDF(DH(ephemerals) ‖ DH(companion identity, phone identity) ‖ random, info "adv_secret"), and the
 *    server sends `pair-success` HMAC'd with it, exactly as after a QR scan.
 */
type Registration = {
  conn: LoopbackConnection
  refs: string[]
  noisePublic: Buffer
  identityPublic: Buffer
  registrationId: number
  signedPreKey: { keyId: number; public: Buffer; signature: Buffer }
  /** Set by companion_hello: a pairing-code request for `phone`. */
  linkCode?: LinkCodeState
}

type LinkCodeState = {
  phone: string
  ref: string
  /** salt (32) ‖ IV (16) ‖ AES-CTR(companion ephemeral public key) (32), under PBKDF2(code, salt). */
  wrappedCompanionEphemeral: Buffer
  /** Set once the phone entered a code. */
  entered?: {
    companionEphemeral: Buffer
    primaryEphemeral: KeyPair
    account: ReturnType<Directory['ensureAccount']>
    finished: (advSecretKey: Buffer) => void
    failed: (err: ScanError) => void
  }
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
const LINK_CODE_INFO = 'link_code_pairing_key_bundle_encryption_key'
const HELLO_GRACE_MS = 2_000

/** `ABCD-EFGH`, `abcdefgh` → `ABCDEFGH`: Baileys derives the keys from the 8 characters without the dash. */
export function normalizeLinkCode(code: string): string {
  const c = code.replace(/[\s-]/g, '').toUpperCase()
  if (!/^[0-9A-Z]{8}$/.test(c)) throw new ScanError(400, 'code must be the 8 characters the client showed, e.g. "ABCD-EFGH"')
  return c
}

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
  private readonly byConn = new Map<LoopbackConnection, Registration>()
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
    this.byConn.set(conn, registration)
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
    const registration = this.byConn.get(conn)
    registration?.linkCode?.entered?.failed(new ScanError(404, 'the client disconnected before the pairing finished'))
    this.byConn.delete(conn)
  }

  /**
   * `<iq xmlns="md" type="set"><link_code_companion_reg stage=…>` from a registering connection: the client's side of
   * pairing by code (companion_hello, then companion_finish after the phone entered the code).
   */
  async linkCodeStage(conn: LoopbackConnection, iq: BinaryNode): Promise<void> {
    const reg = getBinaryNodeChild(iq, 'link_code_companion_reg')
    const registration = this.byConn.get(conn)
    const reply = (content?: BinaryNode[]) =>
      conn.send({ tag: 'iq', attrs: { from: 's.whatsapp.net', type: 'result', id: iq.attrs.id! }, ...(content && { content }) })
    if (!reg || !registration) {
      return conn.send({ tag: 'iq', attrs: { from: 's.whatsapp.net', type: 'error', id: iq.attrs.id! }, content: [{ tag: 'error', attrs: { code: '400', text: 'bad-request' } }] })
    }
    if (reg.attrs.stage === 'companion_hello') {
      const wrapped = getBinaryNodeChildBuffer(reg, 'link_code_pairing_wrapped_companion_ephemeral_pub')
      const noiseKey = getBinaryNodeChildBuffer(reg, 'companion_server_auth_key_pub')
      const phone = (reg.attrs.jid ?? '').split('@')[0]?.split(':')[0] ?? ''
      if (!wrapped || wrapped.length !== 80 || !noiseKey || !registration.noisePublic.equals(Buffer.from(noiseKey)) || !/^\d{6,15}$/.test(phone)) {
        conn.log.warn({ phone }, 'malformed companion_hello')
        return conn.send({ tag: 'iq', attrs: { from: 's.whatsapp.net', type: 'error', id: iq.attrs.id! }, content: [{ tag: 'error', attrs: { code: '400', text: 'bad-request' } }] })
      }
      const ref = randomBytes(16).toString('base64')
      registration.linkCode = { phone, ref, wrappedCompanionEphemeral: Buffer.from(wrapped) }
      return reply([{ tag: 'link_code_companion_reg', attrs: {}, content: [{ tag: 'link_code_pairing_ref', attrs: {}, content: Buffer.from(ref) }] }])
    }
    if (reg.attrs.stage === 'companion_finish') {
      const entered = registration.linkCode?.entered
      if (!entered) return reply()
      try {
        entered.finished(this.finishLinkCode(registration, entered, reg))
      } catch (err) {
        entered.failed(err instanceof ScanError ? err : new ScanError(502, (err as Error).message))
      }
      return reply()
    }
    return reply()
  }

  /** companion_finish, as the phone: opens the key bundle (only the right code can) and derives the advSecretKey. */
  private finishLinkCode(registration: Registration, entered: NonNullable<LinkCodeState['entered']>, reg: BinaryNode): Buffer {
    const bundle = getBinaryNodeChildBuffer(reg, 'link_code_pairing_wrapped_key_bundle')
    const companionIdentity = getBinaryNodeChildBuffer(reg, 'companion_identity_public')
    if (!bundle || bundle.length < 32 + 12 + 16 || !companionIdentity) throw new ScanError(502, 'companion_finish without its key bundle')
    const buf = Buffer.from(bundle)
    const ephemeralShared = Curve.sharedKey(entered.primaryEphemeral.private, entered.companionEphemeral)
    const key = hkdf(ephemeralShared, 32, { salt: buf.subarray(0, 32), info: LINK_CODE_INFO })
    let plain: Buffer
    try {
      plain = Buffer.from(aesDecryptGCM(buf.subarray(44), key, buf.subarray(32, 44), Buffer.alloc(0)))
    } catch {
      throw new ScanError(400, 'the code entered on the phone does not match the one the client showed')
    }
    const identity = plain.subarray(0, 32)
    if (!identity.equals(registration.identityPublic) || !identity.equals(Buffer.from(companionIdentity))) {
      throw new ScanError(502, 'companion_finish names another identity key than the one the client registered')
    }
    if (!plain.subarray(32, 64).equals(Buffer.from(entered.account.accountKey.public))) {
      throw new ScanError(502, 'companion_finish names another primary identity than the phone sent')
    }
    const identityShared = Curve.sharedKey(entered.account.accountKey.private, identity)
    return Buffer.from(hkdf(Buffer.concat([ephemeralShared, identityShared, plain.subarray(64, 96)]), 32, { info: 'adv_secret' }))
  }

  /**
   * What the phone does when a person types the code the client showed (WhatsApp → Linked devices → Link with phone
   * number). Resolves with the new device once the client has signed it (the 515 restart follows).
   */
  async enterCode(rawPhone: string, rawCode: string): Promise<CompanionDevice> {
    const phone = normalizePhone(rawPhone)
    const code = normalizeLinkCode(rawCode)
    const waiting = () => [...this.byConn.values()].find(r => r.linkCode?.phone === phone && r.conn.isOpen && !r.linkCode.entered)
    // Baileys sends companion_hello without waiting for an answer and returns the code at once, so a code can be
    // entered a moment before its hello arrives here: allow it a short while.
    let registration = waiting()
    for (let waited = 0; !registration && waited < HELLO_GRACE_MS; waited += 20) {
      await new Promise(resolve => setTimeout(resolve, 20))
      registration = waiting()
    }
    if (!registration?.linkCode) {
      throw new ScanError(404, `no connection is waiting for a pairing code for ${phone} (never requested, expired, or already entered)`)
    }
    const link = registration.linkCode
    const wrapped = link.wrappedCompanionEphemeral
    const companionEphemeral = Buffer.from(aesDecryptCTR(wrapped.subarray(48, 80), await derivePairingCodeKey(code, wrapped.subarray(0, 32)), wrapped.subarray(32, 48)))
    const primaryEphemeral = Curve.generateKeyPair()
    const salt = randomBytes(32)
    const iv = randomBytes(16)
    const wrappedPrimary = Buffer.concat([salt, iv, aesEncryptCTR(primaryEphemeral.public, await derivePairingCodeKey(code, salt), iv)])
    const account = this.directory.ensureAccount(phone)
    const advSecretKey = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ScanError(504, 'the client did not answer with companion_finish')), PAIR_SIGN_TIMEOUT_MS)
      link.entered = {
        companionEphemeral, primaryEphemeral, account,
        finished: secret => {
          clearTimeout(timer)
          resolve(secret)
        },
        failed: err => {
          clearTimeout(timer)
          reject(err)
        }
      }
    })
    await registration.conn.send({
      tag: 'notification',
      attrs: { from: 's.whatsapp.net', type: 'link_code_companion_reg', id: randomBytes(4).toString('hex'), t: unixSeconds() },
      content: [
        {
          tag: 'link_code_companion_reg',
          attrs: { stage: 'primary_hello' },
          content: [
            { tag: 'link_code_pairing_ref', attrs: {}, content: Buffer.from(link.ref) },
            { tag: 'primary_identity_pub', attrs: {}, content: Buffer.from(account.accountKey.public) },
            { tag: 'link_code_pairing_wrapped_primary_ephemeral_pub', attrs: {}, content: wrappedPrimary }
          ]
        }
      ]
    })
    try {
      return await this.completePairing(registration, await advSecretKey, phone)
    } finally {
      delete link.entered
    }
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
    return this.completePairing(registration, scanned.advSecretKey, phone)
  }

  /** pair-success for `phone`, HMAC'd with `advSecretKey`; resolves once the client signed (then 515). */
  private async completePairing(registration: Registration, advSecretKey: Buffer, phone: string): Promise<CompanionDevice> {
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
    this.byConn.delete(registration.conn)

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
    const hmac = hmacSign(signedIdentity, advSecretKey)
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
