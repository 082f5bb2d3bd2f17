/**
 * A lean HTTP/1.1 keep-alive client for the API benchmark: one socket per concurrent caller, the request bytes
 * built once, responses framed by Content-Length. Node's `http.request` spends as much CPU per call as the server
 * does handling it; on a two-core machine shared by client, server and database that made the benchmark measure
 * the client. This costs about as little as wrk, so the figures describe the API.
 */
import net from 'node:net'

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

/** Opens one keep-alive connection to `port` on `host`. */
export function connect(host: string, port: number): Promise<KeepAliveConnection> {
  return new Promise((resolveConnection, rejectConnection) => {
    const socket = net.connect({ host, port, noDelay: true })
    let buffered: Buffer = Buffer.alloc(0)
    let pending: { resolve(r: HttpResponse): void; reject(e: Error): void } | null = null

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

    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      parse()
    })
    socket.on('error', (err) => {
      fail(err)
      rejectConnection(err)
    })
    socket.on('close', () => fail(new Error('connection closed')))
    socket.once('connect', () =>
      resolveConnection({
        send(request) {
          if (pending) return Promise.reject(new Error('one request at a time per connection'))
          return new Promise<HttpResponse>((resolve, reject) => {
            pending = { resolve, reject }
            socket.write(request)
          })
        },
        close: () => socket.destroy(),
      }),
    )
  })
}
