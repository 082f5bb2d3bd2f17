import type { Logger } from 'pino'
import type { Db } from '../../db/driver.js'
import * as lifecycle from '../../db/lifecycle/index.js'
import type { Fence } from './send-loop.js'

/**
 * Reconciliation on takeover (db/README.md, Crash windows), once per acquired lease, after the socket is up and pending
 * notifications (receipts) have landed. The one `sending` row a crashed owner left is settled (a receipt is on
 * record), resent once under its stored WhatsApp id, or failed (interrupted twice).
 */
export async function reconcileOnce(deps: {
  db: Db
  session: string
  log: Logger
  fence: () => Fence
  gapMs: () => number
  deliver: (message: lifecycle.ClaimedMessage) => Promise<void>
}): Promise<{ kind: 'done' } | { kind: 'wait'; waitMs: number } | { kind: 'fenced' }> {
  const f = deps.fence()
  const r = await lifecycle.reconcileInflight(deps.db, { session: deps.session, owner: f.owner, epoch: f.epoch, gapMs: deps.gapMs() })
  switch (r.kind) {
    case 'none':
      return { kind: 'done' }
    case 'settled':
      deps.log.info({ id: r.id }, 'reconciled: interrupted message had a receipt, settled as sent')
      return { kind: 'done' }
    case 'failed':
      deps.log.warn({ id: r.id }, 'reconciled: message interrupted twice, failed without a third send')
      return { kind: 'done' }
    case 'resend':
      deps.log.warn({ id: r.message.id, waMessageId: r.message.waMessageId }, 'reconciled: resending interrupted message under its id')
      await deps.deliver(r.message)
      return { kind: 'done' }
    case 'wait':
      return { kind: 'wait', waitMs: r.waitMs }
    case 'fenced':
      return { kind: 'fenced' }
  }
}
