import { randomInt } from 'node:crypto'
import {
  Curve,
  encodeBigEndian,
  encodeWAMessage,
  generateSignalPubKey,
  proto,
  signedKeyPair,
  unpadRandomMax16,
  type BinaryNode,
  type KeyPair
} from '@whiskeysockets/baileys'
import * as libsignal from 'libsignal'
import {
  GroupCipher,
  GroupSessionBuilder,
  SenderKeyDistributionMessage,
  SenderKeyName,
  SenderKeyRecord
} from '@whiskeysockets/baileys/lib/Signal/Group/index.js'
import type { CompanionDevice, Directory } from './directory.js'
import { lidJid } from './directory.js'

/**
 * A simulated WhatsApp user's primary phone (device 0), with a real Signal identity.
 *
 * It publishes pre-key bundles (signed with its identity, which libsignal checks), decrypts what paired devices send
 * it with libsignal as the recipient would, and encrypts messages to a paired device from the bundle that device
 * uploaded, so inbound traffic is end-to-end encrypted exactly like WhatsApp's (no `<plaintext>` fallback).
 * One identity serves both the contact's phone number and its LID, as on WhatsApp.
 */
export type EncryptedForDevice = { type: 'pkmsg' | 'msg'; ciphertext: Buffer }

const SIGNED_PRE_KEY_ID = 1

type LibsignalKeyPair = { privKey: Buffer; pubKey: Buffer }
const toLibsignal = (pair: KeyPair): LibsignalKeyPair => ({
  privKey: Buffer.from(pair.private),
  pubKey: Buffer.from(generateSignalPubKey(pair.public))
})

export class SimulatedContact {
  readonly identity = Curve.generateKeyPair()
  readonly registrationId = randomInt(1, 16380)
  readonly signedPreKey = signedKeyPair(this.identity, SIGNED_PRE_KEY_ID)
  private readonly preKeys = new Map<number, KeyPair>()
  private nextPreKeyId = 1
  private readonly sessions = new Map<string, libsignal.SessionRecord>()
  private readonly storage: libsignal.SignalStorage
  /** Sender keys by `SenderKeyName`: the ones paired devices distributed to this phone, and its own per group. */
  private readonly senderKeys = new Map<string, SenderKeyRecord>()
  private readonly senderKeyStore = {
    loadSenderKey: async (name: SenderKeyName) => this.senderKeys.get(name.toString()) ?? new SenderKeyRecord(),
    storeSenderKey: async (name: SenderKeyName, record: SenderKeyRecord) => {
      this.senderKeys.set(name.toString(), record)
    }
  }

  constructor(
    readonly phone: string,
    readonly lid: string
  ) {
    this.storage = {
      loadSession: async id => this.sessions.get(id),
      storeSession: async (id, record) => {
        this.sessions.set(id, record)
      },
      // the loopback trusts every identity; pinning is the client's job and is what Baileys exercises
      isTrustedIdentity: () => true,
      loadPreKey: async id => {
        const pair = this.preKeys.get(Number(id))
        return pair ? toLibsignal(pair) : undefined
      },
      removePreKey: id => {
        this.preKeys.delete(Number(id))
      },
      loadSignedPreKey: () => toLibsignal(this.signedPreKey.keyPair),
      getOurRegistrationId: () => this.registrationId,
      getOurIdentity: () => toLibsignal(this.identity)
    }
  }

  /**
   * One `<user>` of an `encrypt` `<key>` answer. Each call hands out a fresh one-time pre-key, as WhatsApp's server
   * does, and keeps its private half for the pkmsg that will follow.
   */
  bundleNode(jid: string): BinaryNode {
    const preKeyId = this.nextPreKeyId++
    const preKey = Curve.generateKeyPair()
    this.preKeys.set(preKeyId, preKey)
    return {
      tag: 'user',
      attrs: { jid },
      content: [
        { tag: 'registration', attrs: {}, content: encodeBigEndian(this.registrationId) },
        { tag: 'type', attrs: {}, content: Buffer.from([5]) },
        { tag: 'identity', attrs: {}, content: Buffer.from(this.identity.public) },
        {
          tag: 'skey',
          attrs: {},
          content: [
            { tag: 'id', attrs: {}, content: encodeBigEndian(this.signedPreKey.keyId, 3) },
            { tag: 'value', attrs: {}, content: Buffer.from(this.signedPreKey.keyPair.public) },
            { tag: 'signature', attrs: {}, content: Buffer.from(this.signedPreKey.signature) }
          ]
        },
        {
          tag: 'key',
          attrs: {},
          content: [
            { tag: 'id', attrs: {}, content: encodeBigEndian(preKeyId, 3) },
            { tag: 'value', attrs: {}, content: Buffer.from(preKey.public) }
          ]
        }
      ]
    }
  }

  /** Decrypts an `<enc>` a paired device addressed to this contact and returns the WhatsApp message in it. */
  async decryptFrom(device: CompanionDevice, type: string, ciphertext: Uint8Array): Promise<proto.Message> {
    const cipher = new libsignal.SessionCipher(this.storage, this.addressOf(device))
    let padded: Buffer
    if (type === 'pkmsg') padded = await cipher.decryptPreKeyWhisperMessage(Buffer.from(ciphertext))
    else if (type === 'msg') padded = await cipher.decryptWhisperMessage(Buffer.from(ciphertext))
    else throw new Error(`unsupported enc type "${type}" from ${device.phone}:${device.deviceId}`)
    return proto.Message.decode(unpadRandomMax16(padded))
  }

  /**
   * Encrypts a message for a paired device. Without a session yet, one is built from the bundle the device uploaded
   * (identity, signed pre-key, and one of its one-time pre-keys, which is then spent), yielding a pkmsg.
   */
  async encryptFor(device: CompanionDevice, message: proto.IMessage): Promise<EncryptedForDevice> {
    const address = this.addressOf(device)
    const existing = this.sessions.get(address.toString())
    if (!existing?.haveOpenSession()) {
      const preKeyId = device.preKeys.keys().next().value
      const preKeyPublic = preKeyId === undefined ? undefined : device.preKeys.get(preKeyId)
      if (preKeyId !== undefined) device.preKeys.delete(preKeyId)
      await new libsignal.SessionBuilder(this.storage, address).initOutgoing({
        registrationId: device.registrationId,
        identityKey: generateSignalPubKey(device.identityPublic),
        signedPreKey: {
          keyId: device.signedPreKey.keyId,
          publicKey: generateSignalPubKey(device.signedPreKey.public),
          signature: device.signedPreKey.signature
        },
        // a device that ran out of one-time pre-keys is still reachable through its signed pre-key alone
        preKey: preKeyPublic && { keyId: preKeyId!, publicKey: generateSignalPubKey(preKeyPublic) }
      } as Parameters<libsignal.SessionBuilder['initOutgoing']>[0])
    }
    const { type, body } = await new libsignal.SessionCipher(this.storage, address).encrypt(encodeWAMessage(message))
    return { type: type === 3 ? 'pkmsg' : 'msg', ciphertext: Buffer.from(body, 'binary') }
  }

  /** Stores the sender key a paired device distributed for a group (a `senderKeyDistributionMessage`). */
  async acceptSenderKey(groupJid: string, author: CompanionDevice, distribution: Uint8Array): Promise<void> {
    const message = new SenderKeyDistributionMessage(null, null, null, null, distribution)
    await new GroupSessionBuilder(this.senderKeyStore).process(this.senderKeyNameOf(groupJid, author), message)
  }

  /** Decrypts a group message (`skmsg`) with the sender key `author` distributed; throws without one. */
  async decryptGroupFrom(groupJid: string, author: CompanionDevice, ciphertext: Uint8Array): Promise<proto.Message> {
    const padded = await new GroupCipher(this.senderKeyStore, this.senderKeyNameOf(groupJid, author)).decrypt(ciphertext)
    return proto.Message.decode(unpadRandomMax16(padded))
  }

  /**
   * Encrypts a message to a group with this phone's own sender key (created on first use) and returns the `skmsg`
   * together with the distribution message that lets a member decrypt it.
   */
  async encryptForGroup(groupJid: string, message: proto.IMessage): Promise<{ ciphertext: Buffer; distribution: Buffer }> {
    const name = this.ownSenderKeyName(groupJid)
    const distribution = await new GroupSessionBuilder(this.senderKeyStore).create(name)
    const ciphertext = await new GroupCipher(this.senderKeyStore, name).encrypt(encodeWAMessage(message))
    return { ciphertext: Buffer.from(ciphertext), distribution: Buffer.from(distribution.serialize()) }
  }

  /** Drops this phone's sender key for a group (a member left): the next message starts a new one. */
  forgetOwnSenderKey(groupJid: string): void {
    this.senderKeys.delete(this.ownSenderKeyName(groupJid).toString())
  }

  private senderKeyNameOf(groupJid: string, author: CompanionDevice): SenderKeyName {
    return new SenderKeyName(groupJid, { id: `device-${author.phone}`, deviceId: author.deviceId, toString: () => '' })
  }

  private ownSenderKeyName(groupJid: string): SenderKeyName {
    return new SenderKeyName(groupJid, { id: `self-${this.phone}`, deviceId: 0, toString: () => '' })
  }

  /** Forgets the session with a device: the next message starts a new one (a pkmsg from the device's bundle). */
  forgetSession(device: CompanionDevice): void {
    this.sessions.delete(this.addressOf(device).toString())
  }

  /**
   * libsignal serialises jobs per address string in a module-wide queue that Baileys, running in the same process in
   * tests, also uses; a name of our own keeps the two sides' queues apart.
   */
  private addressOf(device: CompanionDevice): libsignal.ProtocolAddress {
    return new libsignal.ProtocolAddress(`loopback-${this.phone}-to-${device.phone}`, device.deviceId)
  }

  get lidJid(): string {
    return lidJid(this.lid)
  }
}

/** The simulated primary phones, created on first use for any number a device looks up or writes to. */
export class ContactBook {
  private readonly contacts = new Map<string, SimulatedContact>()
  constructor(private readonly directory: Directory) {}

  get(phone: string): SimulatedContact {
    let contact = this.contacts.get(phone)
    if (!contact) {
      contact = new SimulatedContact(phone, this.directory.lidFor(phone))
      this.contacts.set(phone, contact)
    }
    return contact
  }
}
