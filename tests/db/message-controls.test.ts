import { expect, it } from 'vitest'
import { cancelMessage } from '../../db/lifecycle/cancel.js'
import { changeContact } from '../../db/lifecycle/contact-change.js'
import { claimNextMessage, type ClaimResult } from '../../db/lifecycle/claim.js'
import { reconcileInflight } from '../../db/lifecycle/reconcile.js'
import { markPendingOptedOut } from '../../db/lifecycle/opt-out.js'
import { requestRevoke } from '../../db/lifecycle/revoke.js'
import { finalizeSent } from '../../db/lifecycle/settle.js'
import { pruneUnreferencedMedia } from '../../db/queries/cron.js'
import { getMedia, getMediaInfos, insertMedia, MEDIA_CHUNK_BYTES } from '../../db/queries/media.js'
import { createWebhook } from '../../db/queries/webhook-endpoints.js'
import { listDeliveries } from '../../db/queries/webhook-deliveries.js'
import { describeEachEngine, type EngineContext } from '../support/db.js'
import { expireLease, fakeWaId, getMessage, insertMessage, leaseOnly, ownedSession, ph, setOptIn, uniqueName } from '../support/queue-fixtures.js'

type Fence = { name: string; owner: string; epoch: number }

function claim(ctx: EngineContext, f: Fence): Promise<ClaimResult> {
  return claimNextMessage(ctx.db, { session: f.name, owner: f.owner, epoch: f.epoch, gapMs: 0, optInMode: 'open', newWaId: fakeWaId })
}

async function eventsOf(ctx: EngineContext, type: string, messageId: number): Promise<number> {
  const rows = await listDeliveries(ctx.db, { limit: 1000 })
  return rows.filter((r) => r.type === type && (JSON.parse(r.payload) as { message_id: number }).message_id === messageId).length
}

describeEachEngine('cancel, revoke and chunked media', (ctx) => {
  it('cancel racing a claim, 1,000 times: each message ends either cancelled or claimed (then sent), never both, never lost', async () => {
    const f = await ownedSession(ctx.db, uniqueName('runner'))
    let cancelled = 0
    let sent = 0
    for (let trial = 0; trial < 1000; trial++) {
      const id = await insertMessage(ctx.db, { session: f.name })
      const [claimed, cancel] = await Promise.all([claim(ctx, f), cancelMessage(ctx.db, id)])
      if (claimed.kind === 'claimed') {
        expect(claimed.message.id).toBe(id)
        expect(cancel).toEqual({ kind: 'not_cancellable', status: 'sending' })
        expect(await finalizeSent(ctx.db, { id, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 0 })).toBe(true)
        sent++
      } else {
        expect(claimed.kind).toBe('idle')
        expect(cancel).toEqual({ kind: 'cancelled' })
        cancelled++
      }
      expect((await getMessage(ctx.db, id)).status).toBe(claimed.kind === 'claimed' ? 'sent' : 'cancelled')
    }
    expect(cancelled + sent).toBe(1000)
    const [left] = await ctx.db.query(`SELECT COUNT(*) AS n FROM messages WHERE session = ${ph(ctx.db, 1)} AND status NOT IN ('sent', 'cancelled')`, [f.name])
    expect(Number(left!.n)).toBe(0)
  }, 300_000)

  it('an opt-out racing a claim, 500 times: the message is either claimed before the opt-out or opted out by it, never sent after it', async () => {
    const f = await ownedSession(ctx.db, uniqueName('runner'))
    let optedOut = 0
    let sent = 0
    for (let trial = 0; trial < 500; trial++) {
      const phone = `96178${String(trial).padStart(6, '0')}`
      await setOptIn(ctx.db, phone, 'yes')
      const id = await insertMessage(ctx.db, { session: f.name, phone })
      const [claimed, change] = await Promise.all([claim(ctx, f), changeContact(ctx.db, { phone, optIn: 'no', actor: 'api:key-0' })])
      if (claimed.kind === 'claimed') {
        // The claim held the row first: the opt-out, serialised after it, found nothing pending.
        expect(claimed.message.id).toBe(id)
        expect(change.optedOut).toBe(0)
        expect(await finalizeSent(ctx.db, { id, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 0 })).toBe(true)
        sent++
      } else {
        expect(claimed.kind).toBe('idle')
        expect(change.optedOut).toBe(1)
        expect((await getMessage(ctx.db, id)).status).toBe('opted_out')
        optedOut++
      }
      // Whatever won, nothing is left for a later claim to send to the opted-out contact.
      expect((await claim(ctx, f)).kind).toBe('idle')
    }
    expect(optedOut + sent).toBe(500)
  }, 300_000)

  it('writes message.cancelled with the cancel, and a cancelled message is never claimed', async () => {
    const f = await ownedSession(ctx.db, uniqueName('runner'))
    await createWebhook(ctx.db, { url: 'https://example.com/hook', events: ['message.cancelled', 'message.revoked'], session: f.name, secret: 's'.repeat(20) })
    const id = await insertMessage(ctx.db, { session: f.name })
    expect(await cancelMessage(ctx.db, id)).toEqual({ kind: 'cancelled' })
    expect(await cancelMessage(ctx.db, id)).toEqual({ kind: 'cancelled' })
    expect(await eventsOf(ctx, 'message.cancelled', id)).toBe(1)
    expect((await claim(ctx, f)).kind).toBe('idle')
    expect(await cancelMessage(ctx.db, 987_654_321)).toEqual({ kind: 'not_found' })
  })

  it('a sent revoke stamps its target revoked_at with message.revoked, also when a takeover settles it', async () => {
    const f = await ownedSession(ctx.db, uniqueName('runner'))
    await createWebhook(ctx.db, { url: 'https://example.com/hook', events: ['message.revoked'], session: f.name, secret: 's'.repeat(20) })
    const target = await insertMessage(ctx.db, { session: f.name })
    const first = await claim(ctx, f)
    expect(first.kind).toBe('claimed')
    expect(await finalizeSent(ctx.db, { id: target, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 0 })).toBe(true)
    const queued = await requestRevoke(ctx.db, target)
    if (queued.kind !== 'queued') throw new Error(`expected a queued revoke, got ${queued.kind}`)
    expect(await requestRevoke(ctx.db, target)).toEqual(queued)
    const revoke = await claim(ctx, f)
    if (revoke.kind !== 'claimed') throw new Error(`expected the revoke to be claimed, got ${revoke.kind}`)
    expect(revoke.message).toMatchObject({ id: queued.revokeId, type: 'revoke', targetId: target })
    expect(await finalizeSent(ctx.db, { id: queued.revokeId, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 0, revokes: target })).toBe(true)
    expect((await getMessage(ctx.db, target)).revokedAt).toBeInstanceOf(Date)
    expect(await eventsOf(ctx, 'message.revoked', target)).toBe(1)
    expect(await requestRevoke(ctx.db, target)).toEqual({ kind: 'already_revoked' })

    // A second message whose revoke was in flight when its runner died: the next lease holder settles it from a receipt.
    const other = await insertMessage(ctx.db, { session: f.name })
    await claim(ctx, f)
    await finalizeSent(ctx.db, { id: other, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 0 })
    const again = await requestRevoke(ctx.db, other)
    if (again.kind !== 'queued') throw new Error('expected a queued revoke')
    expect((await claim(ctx, f)).kind).toBe('claimed')
    await ctx.db.execute(`UPDATE messages SET delivered_at = ${ctx.db.dialect === 'mysql' ? 'NOW(6)' : 'now()'} WHERE id = ${ph(ctx.db, 1)}`, [again.revokeId])
    await expireLease(ctx.db, f.name)
    const epoch = await leaseOnly(ctx.db, f.name, 'runner-next')
    expect(await reconcileInflight(ctx.db, { session: f.name, owner: 'runner-next', epoch, gapMs: 0 })).toMatchObject({ kind: 'settled', id: again.revokeId })
    expect((await getMessage(ctx.db, other)).revokedAt).toBeInstanceOf(Date)
  })

  it('a queued revoke survives the contact\'s STOP and is sent anyway: it only takes back what was already sent', async () => {
    const f = await ownedSession(ctx.db, uniqueName('runner'))
    const phone = `9618${String(Date.now() % 1_000_000).padStart(6, '0')}`
    const target = await insertMessage(ctx.db, { session: f.name, phone })
    await claim(ctx, f)
    await finalizeSent(ctx.db, { id: target, session: f.name, owner: f.owner, epoch: f.epoch, minGapMs: 0 })
    const queued = await requestRevoke(ctx.db, target)
    if (queued.kind !== 'queued') throw new Error('expected a queued revoke')
    const other = await insertMessage(ctx.db, { session: f.name, phone })
    await markPendingOptedOut(ctx.db, phone)
    expect((await getMessage(ctx.db, other)).status).toBe('opted_out')
    expect((await getMessage(ctx.db, queued.revokeId)).status).toBe('pending')
    await setOptIn(ctx.db, phone, 'no')
    const next = await claim(ctx, f)
    expect(next.kind === 'claimed' && next.message.id).toBe(queued.revokeId)
  })

  it('stores a file in chunks of at most 256 KiB, reads it back whole, and prunes the chunks with the file', async () => {
    const bytes = new Uint8Array(MEDIA_CHUNK_BYTES * 2 + 1000).map((_, i) => (i * 13 + 5) % 256)
    const id = await insertMedia(ctx.db, { bytes, mime: 'application/pdf', sha256: 'cd'.repeat(32) })
    const stored = await getMedia(ctx.db, id)
    expect(stored).toMatchObject({ mime: 'application/pdf', size: bytes.length, width: null, height: null })
    expect(Buffer.from(stored!.bytes).equals(Buffer.from(bytes))).toBe(true)
    const chunks = async () => Number((await ctx.db.query(`SELECT COUNT(*) AS n FROM media_chunks WHERE media_id = ${ph(ctx.db, 1)}`, [id]))[0]!.n)
    expect(await chunks()).toBe(3)
    await ctx.db.execute(`UPDATE media SET created_at = ${ctx.db.dialect === 'mysql' ? 'NOW(6) - INTERVAL 40 DAY' : "now() - interval '40 days'"} WHERE id = ${ph(ctx.db, 1)}`, [id])
    expect(await pruneUnreferencedMedia(ctx.db, { retentionDays: 30, pauseMs: 0 })).toBeGreaterThanOrEqual(1)
    expect(await getMedia(ctx.db, id)).toBeNull()
    expect(await chunks()).toBe(0)
  })

  it('reads several files\' metadata in one statement, each once, leaving out unknown or pruned ones', async () => {
    const a = await insertMedia(ctx.db, { bytes: new Uint8Array(10), mime: 'image/png', sha256: 'aa'.repeat(32) })
    const b = await insertMedia(ctx.db, { bytes: new Uint8Array(20), mime: 'application/pdf', sha256: 'bb'.repeat(32) })
    const infos = await getMediaInfos(ctx.db, [a, b, a, 987_654_321])
    expect([...infos.keys()].sort((x, y) => x - y)).toEqual([a, b])
    expect(infos.get(a)).toMatchObject({ id: a, mime: 'image/png', size: 10, chunks: 1 })
    expect(infos.get(b)).toMatchObject({ id: b, mime: 'application/pdf', size: 20 })
    expect(await getMediaInfos(ctx.db, [])).toEqual(new Map())
  })
}, { poolSize: 4 })
