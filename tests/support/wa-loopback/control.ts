import type { IncomingMessage, ServerResponse } from 'node:http'
import type { LoopbackOperations } from './server.js'
import { isFaultKind, FAULT_KINDS } from './faults.js'
import { ScanError } from './pairing.js'
import { InboundError } from './inbound.js'
import type { MediaKind } from './media.js'
import { GroupError } from './groups.js'

/**
 * The HTTP JSON control API on the server's own port; routes and shapes are a contract with tests, benchmarks and
 * demos (see README.md). Every route calls the same operation the in-process handle exposes.
 */
class BadRequest extends Error {}

export function createControlHandler(ops: LoopbackOperations) {
  return async function control(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://loopback')
    const route = `${req.method} ${url.pathname}`
    try {
      const mediaOf = req.method === 'GET' ? /^\/control\/messages\/([^/]+)\/media$/.exec(url.pathname) : null
      if (mediaOf) return sendMedia(res, ops, decodeId(mediaOf[1]!), url.searchParams.get('to') ?? undefined)
      const membersOf = req.method === 'POST' ? /^\/control\/groups\/([^/]+)\/participants$/.exec(url.pathname) : null
      if (membersOf) {
        const body = await readJson(req)
        return json(res, 200, await ops.updateGroup(decodeId(membersOf[1]!), { add: optionalArray(body, 'add'), remove: optionalArray(body, 'remove') }))
      }
      switch (route) {
        case 'GET /control/info':
          return json(res, 200, ops.info)
        case 'GET /control/devices':
          return json(res, 200, ops.devices())
        case 'POST /control/scan': {
          const body = await readJson(req)
          return json(res, 200, await ops.scan(requireString(body, 'qr'), optionalString(body, 'phone')))
        }
        case 'POST /control/pair-code': {
          const body = await readJson(req)
          return json(res, 200, await ops.pairCode(requireString(body, 'phone'), requireString(body, 'code')))
        }
        case 'GET /control/uploads':
          return json(res, 200, ops.uploads())
        case 'GET /control/connections':
          return json(res, 200, ops.connections())
        case 'GET /control/media-requests':
          return json(res, 200, ops.mediaRequests())
        case 'GET /control/downloads':
          return json(res, 200, ops.downloads())
        case 'POST /control/downloads': {
          const body = await readJson(req)
          if (typeof body.hold !== 'boolean') throw new BadRequest('hold must be true or false')
          return json(res, 200, ops.downloads(body.hold))
        }
        case 'GET /control/messages':
          return json(res, 200, ops.messages({ to: url.searchParams.get('to') ?? undefined, group: url.searchParams.get('group') ?? undefined }))
        case 'GET /control/groups':
          return json(res, 200, ops.groups())
        case 'POST /control/groups': {
          const body = await readJson(req)
          if (body.announce !== undefined && typeof body.announce !== 'boolean') throw new BadRequest('announce must be a boolean')
          const participants = optionalArray(body, 'participants')
          if (!participants) throw new BadRequest('participants (array of phones) is required')
          const input = {
            subject: requireString(body, 'subject'), participants,
            admins: optionalArray(body, 'admins'), announce: body.announce === true
          }
          return json(res, 200, await ops.createGroup(input))
        }
        case 'GET /control/presence':
          return json(res, 200, ops.presence(url.searchParams.get('to') ?? undefined))
        case 'POST /control/inbound': {
          const body = await readJson(req)
          const image = body.image as { mimetype?: unknown; size?: unknown } | undefined
          if (image !== undefined && (typeof image?.mimetype !== 'string' || !Number.isSafeInteger(image.size))) {
            throw new BadRequest('image must be {mimetype (string), size (integer)}')
          }
          const file = body.file as { type?: unknown; mimetype?: unknown; base64?: unknown; file_name?: unknown; declared_size?: unknown; corrupt?: unknown } | undefined
          if (file !== undefined && (!['image', 'video', 'audio', 'document'].includes(file?.type as string)
            || typeof file.mimetype !== 'string' || typeof file.base64 !== 'string')) {
            throw new BadRequest('file must be {type (image|video|audio|document), mimetype, base64, file_name?, declared_size?, corrupt?}')
          }
          const group = optionalString(body, 'group')
          const input = {
            from: requireString(body, 'from'), group,
            // A group message goes to every paired member unless `to` names one.
            to: group ? optionalString(body, 'to') : requireString(body, 'to'),
            // An image's or file's caption may be left out.
            text: image || file ? (optionalString(body, 'text') ?? '') : requireString(body, 'text'),
            freshSession: body.fresh_session === true, quotedId: optionalString(body, 'quoted_id'),
            image: image as { mimetype: string; size: number } | undefined,
            file: file && {
              type: file.type as MediaKind, mimetype: file.mimetype as string, bytes: Buffer.from(file.base64 as string, 'base64'),
              fileName: typeof file.file_name === 'string' ? file.file_name : undefined,
              declaredSize: Number.isSafeInteger(file.declared_size) ? (file.declared_size as number) : undefined,
              corrupt: file.corrupt === true,
            },
          }
          return json(res, 200, await ops.inbound(input))
        }
        case 'POST /control/fault': {
          const body = await readJson(req)
          const kind = body.kind
          if (!isFaultKind(kind)) throw new BadRequest(`kind must be one of ${FAULT_KINDS.join(', ')}`)
          const ms = body.ms
          if (kind === 'latency' && (typeof ms !== 'number' || ms < 0)) throw new BadRequest('latency needs ms ≥ 0')
          return json(res, 200, await ops.fault({ phone: requireString(body, 'phone'), kind, ms: ms as number | undefined }))
        }
        case 'POST /control/unregistered': {
          const body = await readJson(req)
          return json(res, 200, ops.unregister(requireString(body, 'phone')))
        }
        case 'POST /control/receipts': {
          const body = await readJson(req)
          const delay = (key: string) => {
            const value = body[key]
            if (value === null) return null
            if (typeof value === 'number' && value >= 0) return value
            throw new BadRequest(`${key} must be a number of milliseconds ≥ 0, or null for never`)
          }
          return json(res, 200, ops.setReceipts({ deliveredMs: delay('delivered_ms'), readMs: delay('read_ms') }))
        }
        case 'POST /control/reset':
          ops.reset()
          return json(res, 200, { ok: true })
        default:
          return json(res, 404, { error: `no route ${route}` })
      }
    } catch (err) {
      if (err instanceof BadRequest) return json(res, 400, { error: err.message })
      if (err instanceof ScanError || err instanceof InboundError || err instanceof GroupError) return json(res, err.status, { error: err.message })
      if (err instanceof Error && /is not a phone number/.test(err.message)) return json(res, 400, { error: err.message })
      return json(res, 500, { error: err instanceof Error ? err.message : String(err) })
    }
  }
}

function decodeId(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new BadRequest('the message id in the path is not valid percent-encoding')
  }
}

/** The decrypted bytes of a recorded media message, as its mimetype; 404 when there are none (or no longer). */
function sendMedia(res: ServerResponse, ops: LoopbackOperations, id: string, to?: string): void {
  const media = ops.messageMedia(id, to)
  if (!media) return json(res, 404, { error: `no media kept for message ${id}` })
  res.writeHead(200, { 'content-type': media.mimetype ?? 'application/octet-stream', 'content-length': media.bytes.length })
  res.end(media.bytes)
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  if (!text) return {}
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>
  } catch {
    // reported below
  }
  throw new BadRequest('body must be a JSON object')
}

function requireString(body: Record<string, unknown>, key: string): string {
  const value = body[key]
  if (typeof value !== 'string' || !value) throw new BadRequest(`${key} (string) is required`)
  return value
}

/** An array of strings (phones, which the operation checks), or undefined when absent. */
function optionalArray(body: Record<string, unknown>, key: string): string[] | undefined {
  const value = body[key]
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value) || value.some(item => typeof item !== 'string')) throw new BadRequest(`${key} must be an array of strings`)
  return value as string[]
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw new BadRequest(`${key} must be a string`)
  return value
}
