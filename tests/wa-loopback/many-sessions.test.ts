import { afterAll, beforeAll, expect, it } from 'vitest'
import { endClient, pairClient, type PairedClient } from '../support/wa-loopback/baileys-client.js'
import { startLoopbackServer, type LoopbackServer } from '../support/wa-loopback/server.js'

const SESSIONS = 50
/** Pairing runs the first-login pre-key upload (812 keys) per socket; batches keep the 2-core CI machine responsive. */
const PAIRING_BATCH = 10

let server: LoopbackServer
const clients: PairedClient[] = []
beforeAll(async () => {
  server = await startLoopbackServer()
})
afterAll(async () => {
  await Promise.all(clients.map(client => endClient(client.sock)))
  await server.stop()
})

it(`holds ${SESSIONS} paired sockets connected at once, each receiving its own message`, { timeout: 120_000 }, async () => {
  for (let i = 0; i < SESSIONS; i += PAIRING_BATCH) {
    const batch = Array.from({ length: Math.min(PAIRING_BATCH, SESSIONS - i) }, () => pairClient(server))
    clients.push(...(await Promise.all(batch)))
  }
  const phones = new Set(clients.map(client => client.phone))
  expect(phones.size).toBe(SESSIONS)
  const connected = server.devices().filter(device => device.connected && phones.has(device.phone))
  expect(connected).toHaveLength(SESSIONS)

  const received = clients.map(
    ({ sock, phone }) =>
      new Promise<string>(resolve =>
        sock.ev.on('messages.upsert', ({ messages }) => {
          const text = messages[0]?.message?.conversation
          if (text) resolve(text)
        })
      ).then(text => [phone, text])
  )
  for (const { phone } of clients) await server.inbound({ from: '447700900999', to: phone, text: `hi ${phone}` })
  for (const [phone, text] of await Promise.all(received)) expect(text).toBe(`hi ${phone}`)
})
