import { binaryNodeToString, decodeBinaryNode, encodeBinaryNode, type BinaryNode } from '@whiskeysockets/baileys'
import type { WebSocket } from 'ws'
import type { Logger } from 'pino'
import type { CompanionDevice } from './directory.js'
import { FrameReader, lengthPrefixed } from './frames.js'
import { NoiseResponder, type ClientHandshakeResult } from './noise.js'

export type ConnectionHandlers = {
  /** Called once the Noise handshake is complete, with the client's static key and ClientPayload. */
  onHandshake(conn: LoopbackConnection, result: ClientHandshakeResult): Promise<void>
  /** Called for every decoded stanza, one at a time, in arrival order. */
  onNode(conn: LoopbackConnection, node: BinaryNode): Promise<void>
  onClose(conn: LoopbackConnection): void
}

/**
 * One client WebSocket: framing, Noise, the binary node codec, and ordered delivery both ways.
 * Stanza handling happens in the handlers; this class only moves bytes.
 */
export class LoopbackConnection {
  /** Set after a successful login; registration (QR) connections never get one. */
  device: CompanionDevice | undefined
  isLoggedIn = false
  /** Extra delay before every frame this connection sends (fault `latency`). */
  latencyMs = 0
  private readonly frames = new FrameReader()
  private readonly noise: NoiseResponder
  private handshakeStep: 'hello' | 'finish' | 'transport' = 'hello'
  private inbound: Promise<void> = Promise.resolve()
  private outbound: Promise<void> = Promise.resolve()
  private closed = false

  constructor(
    private readonly ws: WebSocket,
    noise: NoiseResponder,
    private readonly handlers: ConnectionHandlers,
    readonly log: Logger
  ) {
    this.noise = noise
    ws.on('message', data => this.receive(data as Buffer))
    ws.on('close', () => this.markClosed())
    ws.on('error', err => {
      log.debug({ err }, 'websocket error')
      this.markClosed()
    })
  }

  get isOpen(): boolean {
    return !this.closed
  }

  /** Encodes, encrypts and frames a stanza; frames leave in call order even with added latency. */
  send(node: BinaryNode): Promise<void> {
    const latency = this.latencyMs
    const write = async () => {
      if (latency > 0) await new Promise(resolve => setTimeout(resolve, latency))
      if (this.closed) return
      if (this.log.isLevelEnabled('trace')) this.log.trace({ xml: binaryNodeToString(node) }, 'send')
      const body = this.noise.encryptFrame(encodeBinaryNode(node))
      await new Promise<void>(resolve => this.ws.send(lengthPrefixed(body), () => resolve()))
    }
    this.outbound = this.outbound.then(write, write)
    return this.outbound
  }

  /** Sends a final stanza (stream error, failure) and closes once it has been written. */
  async sendAndClose(node: BinaryNode): Promise<void> {
    await this.send(node)
    this.close()
  }

  /** A clean WebSocket close: Baileys reports it as 428 "Connection Terminated". */
  close(): void {
    if (this.closed) return
    this.ws.close()
    this.markClosed()
  }

  /** Drops the TCP connection without a close frame. */
  terminate(): void {
    this.ws.terminate()
    this.markClosed()
  }

  private markClosed(): void {
    if (this.closed) return
    this.closed = true
    this.handlers.onClose(this)
  }

  private receive(data: Buffer): void {
    let frames: Buffer[]
    try {
      frames = this.frames.push(data)
    } catch (err) {
      this.log.warn({ err }, 'bad framing, closing')
      this.terminate()
      return
    }
    for (const frame of frames) {
      this.inbound = this.inbound
        .then(() => (this.closed ? undefined : this.handleFrame(frame)))
        .catch(err => {
          this.log.error({ err }, 'error handling frame, closing connection')
          this.terminate()
        })
    }
  }

  private async handleFrame(frame: Buffer): Promise<void> {
    switch (this.handshakeStep) {
      case 'hello': {
        const serverHello = this.noise.respondToHello(frame)
        this.handshakeStep = 'finish'
        this.ws.send(lengthPrefixed(serverHello))
        return
      }
      case 'finish': {
        const result = this.noise.acceptFinish(frame)
        this.handshakeStep = 'transport'
        await this.handlers.onHandshake(this, result)
        return
      }
      case 'transport': {
        const node = await decodeBinaryNode(this.noise.decryptFrame(frame))
        if (this.log.isLevelEnabled('trace')) this.log.trace({ xml: binaryNodeToString(node) }, 'recv')
        await this.handlers.onNode(this, node)
      }
    }
  }
}
