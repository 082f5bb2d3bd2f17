import { randomInt } from 'node:crypto'
import type { BinaryNode } from '@whiskeysockets/baileys'
import { lidJid, normalizePhone, pnJid, type Directory } from './directory.js'

/**
 * WhatsApp groups on the loopback: a JID `120363<12 digits>@g.us`, a subject, members (phones: paired gateway
 * accounts or simulated contacts alike) with their admin rank, and the announce-only flag. Groups are set up through
 * the control API (`POST /control/groups`), not by clients, and outlive `POST /control/reset` like paired devices.
 *
 * Groups are addressed by LID, as WhatsApp's are now (`addressing_mode="lid"`): participants are listed as
 * `<lid>@lid` with `phone_number` carrying their phone number.
 */
export type GroupRank = 'superadmin' | 'admin' | null

export type Group = {
  jid: string
  subject: string
  /** unix seconds */
  creation: number
  /** the phone that created it (first admin, or first participant when there are no admins) */
  creator: string
  announce: boolean
  /** in the order they joined */
  participants: Map<string, GroupRank>
}

export class GroupError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message)
  }
}

/** Size limits of the control API: WhatsApp's own (subject 100 characters, 1024 members). */
export const MAX_SUBJECT = 100
export const MAX_PARTICIPANTS = 1024

export type GroupInput = { subject: string; participants: string[]; admins?: string[]; announce?: boolean }

export class GroupBook {
  private readonly groups = new Map<string, Group>()

  create(input: GroupInput): Group {
    const subject = input.subject.trim()
    if (!subject || subject.length > MAX_SUBJECT) throw new GroupError(400, `subject must be 1 to ${MAX_SUBJECT} characters`)
    const participants = uniquePhones(input.participants, 'participants')
    if (!participants.length) throw new GroupError(400, 'participants must name at least one phone')
    const admins = input.admins === undefined ? [participants[0]!] : uniquePhones(input.admins, 'admins')
    const stranger = admins.find(phone => !participants.includes(phone))
    if (stranger) throw new GroupError(400, `admin ${stranger} is not among the participants`)
    const creator = admins[0] ?? participants[0]!
    let jid: string
    do jid = `120363${String(randomInt(0, 10 ** 12)).padStart(12, '0')}@g.us`
    while (this.groups.has(jid))
    const group: Group = {
      jid,
      subject,
      creation: Math.floor(Date.now() / 1000),
      creator,
      announce: input.announce === true,
      participants: new Map(participants.map(phone => [phone, rankOf(phone, creator, admins)]))
    }
    this.groups.set(jid, group)
    return group
  }

  get(jid: string): Group | undefined {
    return this.groups.get(jid.includes('@') ? jid : `${jid}@g.us`)
  }

  require(jid: string): Group {
    const group = this.get(jid)
    if (!group) throw new GroupError(404, `no group ${jid}`)
    return group
  }

  /** The groups a phone is a member of, oldest first. */
  of(phone: string): Group[] {
    return [...this.groups.values()].filter(group => group.participants.has(phone))
  }

  all(): Group[] {
    return [...this.groups.values()]
  }

  /**
   * Adds and removes members; checked as a whole first, so a bad request changes nothing. Returns the phones
   * actually added and removed.
   */
  update(group: Group, change: { add?: string[]; remove?: string[] }): { added: string[]; removed: string[] } {
    const added = uniquePhones(change.add ?? [], 'add')
    const removed = uniquePhones(change.remove ?? [], 'remove')
    if (!added.length && !removed.length) throw new GroupError(400, 'add or remove must name at least one phone')
    const present = added.find(phone => group.participants.has(phone))
    if (present) throw new GroupError(400, `${present} is already a participant`)
    const absent = removed.find(phone => !group.participants.has(phone))
    if (absent) throw new GroupError(400, `${absent} is not a participant`)
    if (group.participants.size + added.length > MAX_PARTICIPANTS) {
      throw new GroupError(400, `a group holds at most ${MAX_PARTICIPANTS} participants`)
    }
    for (const phone of removed) group.participants.delete(phone)
    for (const phone of added) group.participants.set(phone, null)
    return { added, removed }
  }
}

function rankOf(phone: string, creator: string, admins: string[]): GroupRank {
  if (phone === creator && admins.includes(phone)) return 'superadmin'
  return admins.includes(phone) ? 'admin' : null
}

function uniquePhones(raw: unknown, name: string): string[] {
  if (!Array.isArray(raw) || raw.some(item => typeof item !== 'string')) {
    throw new GroupError(400, `${name} must be an array of phone numbers`)
  }
  if (raw.length > MAX_PARTICIPANTS) throw new GroupError(400, `${name} may name at most ${MAX_PARTICIPANTS} phones`)
  let phones: string[]
  try {
    phones = (raw as string[]).map(normalizePhone)
  } catch (err) {
    throw new GroupError(400, `${name}: ${(err as Error).message}`)
  }
  const duplicate = phones.find((phone, i) => phones.indexOf(phone) !== i)
  if (duplicate) throw new GroupError(400, `${name} names ${duplicate} twice`)
  return phones
}

/** A participant as WhatsApp lists it in a LID-addressed group. */
export function participantNode(directory: Directory, phone: string, rank: GroupRank = null): BinaryNode {
  return {
    tag: 'participant',
    attrs: { jid: lidJid(directory.lidFor(phone)), phone_number: pnJid(phone), ...(rank && { type: rank }) }
  }
}

/** `<group>` as the `w:g2` queries answer it (Baileys' `extractGroupMetadata` reads it). */
export function groupNode(directory: Directory, group: Group): BinaryNode {
  const creatorLid = lidJid(directory.lidFor(group.creator))
  return {
    tag: 'group',
    attrs: {
      id: group.jid.split('@')[0]!,
      subject: group.subject,
      s_t: String(group.creation),
      s_o: creatorLid,
      s_o_pn: pnJid(group.creator),
      creation: String(group.creation),
      creator: creatorLid,
      creator_pn: pnJid(group.creator),
      addressing_mode: 'lid',
      size: String(group.participants.size)
    },
    content: [
      ...[...group.participants].map(([phone, rank]) => participantNode(directory, phone, rank)),
      ...(group.announce ? [{ tag: 'announcement', attrs: {} }] : [])
    ]
  }
}

/** May `phone` write in the group? Members may, except in an announce-only group where only admins may. */
export function mayWrite(group: Group, phone: string): boolean {
  const rank = group.participants.get(phone)
  if (rank === undefined) return false
  return !group.announce || rank !== null
}
