import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { startLoopbackServer } from './server.js'

/**
 * `npm run wa-loopback -- --port N [--host 127.0.0.1] [--media-port M] [--log info]`
 * Starts the loopback WhatsApp server standalone and prints its info (the `env` block is what a runner exports).
 */
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'media-port': { type: 'string', default: '0' },
    log: { type: 'string', default: 'info' }
  }
})

const toPort = (raw: string, flag: string) => {
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--${flag} must be a port number, got "${raw}"`)
  return port
}

const server = await startLoopbackServer({
  port: toPort(values.port, 'port'),
  host: values.host,
  mediaPort: toPort(values['media-port'], 'media-port'),
  log: pino({ level: values.log }).child({ module: 'wa-loopback' })
})
console.log(JSON.stringify({ ...server.info, control_url: server.url }, null, 2))

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void server.stop().then(() => process.exit(0))
  })
}
