/**
 * A lean HTTP/1.1 keep-alive client for the API benchmark: one socket per concurrent caller, the request bytes
 * built once, responses framed by Content-Length. Node's `http.request` spends as much CPU per call as the server
 * does handling it; on a two-core machine shared by client, server and database that made the benchmark measure
 * the client. This costs about as little as wrk, so the figures describe the API.
 */
import net, { type Socket } from 'node:net'

export interface HttpResponse {
  status: number
  body: string
}

export interface KeepAliveConnection {
  /** Sends the prepared request and resolves with the response. One request at a time per connection. */
  send(request: Buffer): Promise<HttpResponse>
  close(): void
}

/** The bytes of one POST with a JSON body, ready to write again and again. */
export function buildPost(host: string, path: string, body: string, headers: Record<string, string>): Buffer {
  const payload = Buffer.from(body, 'utf8')
  const lines = [`POST ${path} HTTP/1.1`, `Host: ${host}`, 'Content-Type: application/json', `Content-Length: ${payload.length}`]
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`)
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload])
}

const HEADER_END = Buffer.from('\r\n\r\n')

/**
 * One keep-alive connection to `port` on `host`. The server closes a connection idle for longer than its keep-alive
 * timeout (Node: 5 s), e.g. while the other side of the benchmark runs: the next send then opens a new one.
 */
export async function connect(host: string, port: number): Promise<KeepAliveConnection> {
  let current: Promise<Socket> | null = null
  let pending: { resolve(r: HttpResponse): void; reject(e: Error): void } | null = null
  let buffered: Buffer = Buffer.alloc(0)

  const fail = (err: Error) => {
    const p = pending
    pending = null
    p?.reject(err)
  }

  // Frames as many complete responses as the buffer holds (normally exactly one).
  const parse = () => {
    for (;;) {
      const end = buffered.indexOf(HEADER_END)
      if (end < 0) return
      const head = buffered.toString('latin1', 0, end)
      const status = Number(head.slice(9, 12))
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head)
      if (!m) return fail(new Error(`response without Content-Length: ${head.split('\r\n')[0]}`))
      const total = end + HEADER_END.length + Number(m[1])
      if (buffered.length < total) return
      const body = buffered.toString('utf8', end + HEADER_END.length, total)
      buffered = buffered.subarray(total)
      const p = pending
      pending = null
      p?.resolve({ status, body })
    }
  }

  const open = () =>
    new Promise<Socket>((resolve, reject) => {
      const socket = net.connect({ host, port, noDelay: true })
      socket.on('data', (chunk: Buffer) => {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
        parse()
      })
      socket.on('error', (err) => {
        fail(err)
        reject(err)
      })
      socket.on('close', () => {
        current = null
        buffered = Buffer.alloc(0)
        fail(new Error('connection closed'))
      })
      socket.once('connect', () => resolve(socket))
    })

  current = open()
  await current
  return {
    async send(request) {
      if (pending) throw new Error('one request at a time per connection')
      const socket = await (current ??= open())
      return new Promise<HttpResponse>((resolve, reject) => {
        pending = { resolve, reject }
        socket.write(request)
      })
    },
    close() {
      void current?.then((s) => s.destroy())
    },
  }
}
