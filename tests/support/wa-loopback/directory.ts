import { randomInt } from 'node:crypto'
import { Curve, type KeyPair } from '@whiskeysockets/baileys'

/**
 * Who exists on the loopback "WhatsApp": every phone number has exactly one LID (used alike for paired accounts and
 * simulated contacts), and a phone that has scanned a QR is an account with an account-signature key (the phone's
 * ADV identity) and one or more linked companion devices.
 */
export type SignedPreKeyRecord = { keyId: number; public: Uint8Array; signature: Uint8Array }

export type CompanionDevice = {
  phone: string
  lid: string
  deviceId: number
  /** ADV key index; Baileys requires one for every non-zero device it lists from USync. */
  keyIndex: number
  /** `creds.noiseKey.public`: the static key the device presents at every login. */
  noisePublic: Buffer
  /** The Signal bundle the device registered and uploaded; simulated contacts build sessions from it. */
  identityPublic: Uint8Array
  registrationId: number
  signedPreKey: SignedPreKeyRecord
  preKeys: Map<number, Uint8Array>
}

export type Account = {
  phone: string
  lid: string
  accountKey: KeyPair
  devices: Map<number, CompanionDevice>
  nextDeviceId: number
}

export const pnJid = (phone: string, device = 0) =>
  device ? `${phone}:${device}@s.whatsapp.net` : `${phone}@s.whatsapp.net`
export const lidJid = (lid: string, device = 0) => (device ? `${lid}:${device}@lid` : `${lid}@lid`)

/** Digits only, as WhatsApp numbers are E.164 without the plus. */
export function normalizePhone(raw: string): string {
  const digits = raw.replace(/^\+/, '')
  if (!/^\d{6,15}$/.test(digits)) {
    throw new Error(`"${raw}" is not a phone number (6 to 15 digits, optional leading +)`)
  }
  return digits
}

export class Directory {
  private readonly lidByPhone = new Map<string, string>()
  private readonly phoneByLid = new Map<string, string>()
  private readonly accounts = new Map<string, Account>()
  /** Numbers declared not on WhatsApp (`unregister`); every other number is (a simulated contact when unpaired). */
  private readonly unregistered = new Set<string>()
  /** Generated numbers live in the fictional 1-555-01xx range's neighbourhood; the counter keeps them unique. */
  private nextGeneratedPhone = 15550100000 + randomInt(0, 50_000) * 10

  lidFor(phone: string): string {
    let lid = this.lidByPhone.get(phone)
    if (!lid) {
      // 15 digits like real LIDs; randomInt's range is limited to 2^48, hence the two parts
      do lid = String(randomInt(1, 10)) + String(randomInt(0, 10 ** 14)).padStart(14, '0')
      while (this.phoneByLid.has(lid))
      this.lidByPhone.set(phone, lid)
      this.phoneByLid.set(lid, phone)
    }
    return lid
  }

  phoneForLid(lid: string): string | undefined {
    return this.phoneByLid.get(lid)
  }

  /** Resolves a user part (phone or LID) from a JID on either server. */
  phoneOfJid(jid: string): string | undefined {
    const [userAndDevice, server] = jid.split('@')
    const user = userAndDevice?.split(':')[0]
    if (!user) return undefined
    if (server === 'lid') return this.phoneForLid(user)
    if (server === 's.whatsapp.net') return user
    return undefined
  }

  /** Declares `phone` not on WhatsApp: usync's contact protocol answers `out` for it. A paired account cannot be. */
  unregister(phone: string): void {
    if (this.accounts.has(phone)) throw new Error(`${phone} is a paired account`)
    this.unregistered.add(phone)
  }

  isRegistered(phone: string): boolean {
    return !this.unregistered.has(phone)
  }

  generatePhone(): string {
    let phone: string
    do phone = String(this.nextGeneratedPhone++)
    while (this.accounts.has(phone))
    return phone
  }

  account(phone: string): Account | undefined {
    return this.accounts.get(phone)
  }

  ensureAccount(phone: string): Account {
    let account = this.accounts.get(phone)
    if (!account) {
      account = {
        phone,
        lid: this.lidFor(phone),
        accountKey: Curve.generateKeyPair(),
        devices: new Map(),
        nextDeviceId: 1
      }
      this.accounts.set(phone, account)
    }
    return account
  }

  device(phone: string, deviceId: number): CompanionDevice | undefined {
    return this.accounts.get(phone)?.devices.get(deviceId)
  }

  allDevices(): CompanionDevice[] {
    return [...this.accounts.values()].flatMap(account => [...account.devices.values()])
  }

  devicesOf(phone: string): CompanionDevice[] {
    return [...(this.accounts.get(phone)?.devices.values() ?? [])]
  }

  /** Unlinks every companion of a phone, as "Log out from all devices" on the phone does. */
  unlinkAll(phone: string): CompanionDevice[] {
    const removed = this.devicesOf(phone)
    this.accounts.get(phone)?.devices.clear()
    return removed
  }

  unlink(device: CompanionDevice): void {
    this.accounts.get(device.phone)?.devices.delete(device.deviceId)
  }
}
