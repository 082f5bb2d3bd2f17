import { Curve, proto, type KeyPair } from '@whiskeysockets/baileys'

/**
 * The Noise certificate chain the loopback server presents during the handshake.
 *
 * Baileys (rc10 and later) checks intermediate → root and leaf → intermediate, and that the intermediate's issuer serial
 * equals `WA_CERT_DETAILS.SERIAL` (0). We sign with a root generated per server start, never with WhatsApp material:
 * a socket trusts it only when given it as `trustedRootKey` (runner/whatsapp/loopback-trust.ts, a socket option
 * runner/whatsapp/baileys-patch.ts adds); Baileys' global root stays WhatsApp's.
 */
export type TestRoot = { keyPair: KeyPair; publicKeyHex: string }

export function createTestRoot(): TestRoot {
  const keyPair = Curve.generateKeyPair()
  return { keyPair, publicKeyHex: Buffer.from(keyPair.public).toString('hex') }
}

/** Serial of the root as Baileys expects it in the intermediate's `issuerSerial`. */
const ROOT_SERIAL = 0
const INTERMEDIATE_SERIAL = 1
const LEAF_SERIAL = 2

/** Encoded `proto.CertChain` whose leaf carries the server's static Noise key. */
export function buildCertChain(root: TestRoot, serverStaticPublic: Uint8Array): Uint8Array {
  const intermediateKey = Curve.generateKeyPair()
  const intermediateDetails = proto.CertChain.NoiseCertificate.Details.encode({
    serial: INTERMEDIATE_SERIAL,
    issuerSerial: ROOT_SERIAL,
    key: intermediateKey.public,
    notBefore: 0,
    notAfter: 0
  }).finish()
  const leafDetails = proto.CertChain.NoiseCertificate.Details.encode({
    serial: LEAF_SERIAL,
    issuerSerial: INTERMEDIATE_SERIAL,
    key: serverStaticPublic,
    notBefore: 0,
    notAfter: 0
  }).finish()
  return proto.CertChain.encode({
    intermediate: { details: intermediateDetails, signature: Curve.sign(root.keyPair.private, intermediateDetails) },
    leaf: { details: leafDetails, signature: Curve.sign(intermediateKey.private, leafDetails) }
  }).finish()
}
