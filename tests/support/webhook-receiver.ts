import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request the receiver got, and what it answered. */
export interface ReceivedCall {
  headers: IncomingHttpHeaders
  body: string
  path: string
  answered: number | null
}

/** What to do with the n-th call (0-based): answer a status (with optional headers), or hold it open. */
export type ReceiverBehaviour = (call: ReceivedCall, n: number) => { status: number; headers?: Record<string, string> } | 'hold'

/**
 * A real HTTP receiver on 127.0.0.1 for the webhook tests: records every call, answers as `behaviour` says (200 by
 * default), and can hold a request open (to kill a runner mid-call).
 */
export async function startWebhookReceiver(behaviour: ReceiverBehaviour = () => ({ status: 200 })) {
  const calls: ReceivedCall[] = []
  const held: ServerResponse[] = []
  let current = behaviour
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (d: Buffer) => chunks.push(d))
    req.on('end', () => {
      const call: ReceivedCall = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), path: req.url ?? '', answered: null }
      const n = calls.length
      calls.push(call)
      const what = current(call, n)
      if (what === 'hold') {
        held.push(res)
        return
      }
      call.answered = what.status
      res.writeHead(what.status, { 'Content-Type': 'text/plain', ...what.headers })
      res.end(what.status >= 300 ? `no (${what.status})` : 'ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    calls,
    setBehaviour(b: ReceiverBehaviour) {
      current = b
    },
    async close() {
      for (const r of held) r.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export type WebhookReceiver = Awaited<ReturnType<typeof startWebhookReceiver>>

/** What a receiver does (README.md): recompute the HMAC over `${X-Timestamp}.${body}`, compare in constant time. */
export function verifySignature(secret: string, call: ReceivedCall, toleranceSeconds = 300, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  const ts = String(call.headers['x-timestamp'] ?? '')
  const sig = String(call.headers['x-signature'] ?? '')
  if (!/^\d+$/.test(ts) || Math.abs(nowSeconds - Number(ts)) > toleranceSeconds) return false
  const expected = `sha256=${createHmac('sha256', secret).update(`${ts}.${call.body}`).digest('hex')}`
  return expected.length === sig.length && timingSafeEqual(Buffer.from(expected), Buffer.from(sig))
}
