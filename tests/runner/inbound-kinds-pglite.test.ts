import { describe, expect, it } from 'vitest'
import { enqueueMessage } from '../../db/lifecycle/enqueue.js'
import { getContact } from '../../db/queries/contacts.js'
import { listInbound } from '../../db/queries/inbound.js'
import { getMessage } from '../../db/queries/messages.js'
import { usePairedRunner, waitFor } from './helpers.js'

/**
 * What a contact writes, as the runner stores it with the real Baileys (runner/whatsapp/content.ts): an image's kind,
 * caption and declared metadata, the sent message a reply quotes, and STOP read in text messages only.
 */
describe('inbound kinds end to end on PGlite with real Baileys against the loopback server', () => {
  const e2e = usePairedRunner()

  const storedRow = (from: string, count: number) =>
    waitFor(async () => {
      const rows = await listInbound(e2e.t.db, { phone: from, limit: 10 })
      return rows.length >= count ? rows[0]! : null
    }, 20_000, `inbound message ${count} from ${from}`)

  it('stores an image reply with its caption, mimetype, size, LID and our quoted message; STOP counts only as text', async () => {
    const from = '96172000001'
    const ours = await enqueueMessage(e2e.t.db, { session: 'default', phone: from, type: 'text', body: 'Your parcel is at the door' })
    if (ours.kind !== 'created') throw new Error('not created')
    const sent = await waitFor(async () => {
      const m = await getMessage(e2e.t.db, ours.id)
      return m?.status === 'sent' ? m : null
    }, 30_000, 'our message sent')

    await e2e.server.inbound({ from, to: e2e.phone, text: 'STOP', image: { mimetype: 'image/jpeg', size: 48_213 }, quotedId: sent.waMessageId! })
    const image = await storedRow(from, 1)
    expect(image).toMatchObject({
      session: 'default', phone: from, type: 'image', text: 'STOP', mimetype: 'image/jpeg', file_name: null, size: 48_213,
      reply_to_message_id: ours.id, consent: null,
    })
    expect(image.lid).toMatch(/^\d+$/)
    expect((await getContact(e2e.t.db, from))!.optIn).toBe('yes')

    // A quote of a message that is not ours resolves to nothing.
    await e2e.server.inbound({ from, to: e2e.phone, text: 'and this?', quotedId: 'SOMEONE-ELSES' })
    expect(await storedRow(from, 2)).toMatchObject({ type: 'text', text: 'and this?', reply_to_message_id: null, consent: null })

    // The text STOP comes last: its confirmation is the runner's only message after the contact's own, so nothing here
    // has both directions in flight at once (the loopback contact sends no retry receipt for a message it cannot
    // decrypt, so such a race would lose the confirmation at the loopback, not in the gateway).
    await e2e.server.inbound({ from, to: e2e.phone, text: 'stop', quotedId: sent.waMessageId! })
    const text = await storedRow(from, 3)
    expect(text).toMatchObject({ type: 'text', text: 'stop', mimetype: null, size: null, reply_to_message_id: ours.id, consent: 'stop' })
    expect((await getContact(e2e.t.db, from))!.optIn).toBe('no')
  }, 90_000)
})
