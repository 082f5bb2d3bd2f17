import {
  aesDecryptGCM,
  aesEncryptGCM,
  Curve,
  hkdf,
  NOISE_MODE,
  NOISE_WA_HEADER,
  proto,
  sha256,
  type KeyPair
} from '@whiskeysockets/baileys'

/**
 * Responder side of WhatsApp's Noise_XX_25519_AESGCM_SHA256 handshake, mirroring Baileys' initiator in
 * `Utils/noise-handler.js` step for step (same hash/key mixing order, same counter reset on every key mix,
 * IV = 8 zero bytes ‖ uint32 BE counter, AAD = running hash during the handshake and empty afterwards).
 */
export type ClientHandshakeResult = {
  /** The client's static Noise key (`creds.noiseKey.public`), which identifies a paired device at login. */
  clientStaticPublic: Uint8Array
  payload: proto.ClientPayload
}

const EMPTY = Buffer.alloc(0)

function ivFor(counter: number): Uint8Array {
  const iv = new Uint8Array(12)
  new DataView(iv.buffer).setUint32(8, counter)
  return iv
}

/** Symmetric state of one direction once the handshake is over; counters start at 0 and never reset. */
class TransportCipher {
  private counter = 0
  constructor(private readonly key: Uint8Array) {}
  encrypt(plaintext: Uint8Array): Buffer {
    return aesEncryptGCM(plaintext, this.key, ivFor(this.counter++), EMPTY)
  }
  decrypt(ciphertext: Uint8Array): Buffer {
    return aesDecryptGCM(ciphertext, this.key, ivFor(this.counter++), EMPTY)
  }
}

export class NoiseResponder {
  private hash: Buffer
  private chainingKey: Buffer
  private cipherKey: Buffer
  private counter = 0
  private readonly ephemeral = Curve.generateKeyPair()
  private clientEphemeral: Uint8Array | undefined
  private incoming: TransportCipher | undefined
  private outgoing: TransportCipher | undefined

  constructor(
    private readonly serverStatic: KeyPair,
    private readonly certChain: Uint8Array
  ) {
    // NOISE_MODE is exactly 32 bytes, so it is used as is (the client only hashes it when it is not)
    this.hash = Buffer.from(NOISE_MODE)
    this.chainingKey = this.hash
    this.cipherKey = this.hash
    this.mixHash(NOISE_WA_HEADER)
  }

  get isTransportReady(): boolean {
    return this.outgoing !== undefined
  }

  /** Consumes the ClientHello, returns the ServerHello body (to be framed with a length prefix). */
  respondToHello(clientHelloFrame: Uint8Array): Uint8Array {
    const hello = proto.HandshakeMessage.decode(clientHelloFrame).clientHello
    if (!hello?.ephemeral || hello.ephemeral.length !== 32) {
      throw new Error('ClientHello without a 32-byte ephemeral key')
    }
    this.clientEphemeral = hello.ephemeral
    this.mixHash(hello.ephemeral)
    this.mixHash(this.ephemeral.public)
    this.mixKey(Curve.sharedKey(this.ephemeral.private, hello.ephemeral))
    const encryptedStatic = this.encryptAndHash(this.serverStatic.public)
    this.mixKey(Curve.sharedKey(this.serverStatic.private, hello.ephemeral))
    const encryptedCerts = this.encryptAndHash(this.certChain)
    return proto.HandshakeMessage.encode({
      serverHello: { ephemeral: this.ephemeral.public, static: encryptedStatic, payload: encryptedCerts }
    }).finish()
  }

  /** Consumes the ClientFinish, switches to transport keys and returns the client's static key and payload. */
  acceptFinish(clientFinishFrame: Uint8Array): ClientHandshakeResult {
    if (!this.clientEphemeral) {
      throw new Error('ClientFinish before ClientHello')
    }
    const finish = proto.HandshakeMessage.decode(clientFinishFrame).clientFinish
    if (!finish?.static || !finish.payload) {
      throw new Error('ClientFinish without static key or payload')
    }
    const clientStaticPublic = this.decryptAndHash(finish.static)
    this.mixKey(Curve.sharedKey(this.ephemeral.private, clientStaticPublic))
    const payload = proto.ClientPayload.decode(this.decryptAndHash(finish.payload))
    const keys = hkdf(EMPTY, 64, { salt: this.chainingKey, info: '' })
    // the client writes with the first half and reads with the second
    this.incoming = new TransportCipher(keys.subarray(0, 32))
    this.outgoing = new TransportCipher(keys.subarray(32))
    return { clientStaticPublic, payload }
  }

  encryptFrame(plaintext: Uint8Array): Buffer {
    if (!this.outgoing) throw new Error('Noise transport not established')
    return this.outgoing.encrypt(plaintext)
  }

  decryptFrame(ciphertext: Uint8Array): Buffer {
    if (!this.incoming) throw new Error('Noise transport not established')
    return this.incoming.decrypt(ciphertext)
  }

  private mixHash(data: Uint8Array): void {
    this.hash = sha256(Buffer.concat([this.hash, data]))
  }

  private mixKey(inputKeyMaterial: Uint8Array): void {
    const derived = hkdf(Buffer.from(inputKeyMaterial), 64, { salt: this.chainingKey, info: '' })
    this.chainingKey = Buffer.from(derived.subarray(0, 32))
    this.cipherKey = Buffer.from(derived.subarray(32))
    this.counter = 0
  }

  private encryptAndHash(plaintext: Uint8Array): Buffer {
    const ciphertext = aesEncryptGCM(plaintext, this.cipherKey, ivFor(this.counter++), this.hash)
    this.mixHash(ciphertext)
    return ciphertext
  }

  private decryptAndHash(ciphertext: Uint8Array): Buffer {
    const plaintext = aesDecryptGCM(ciphertext, this.cipherKey, ivFor(this.counter++), this.hash)
    this.mixHash(ciphertext)
    return plaintext
  }
}
