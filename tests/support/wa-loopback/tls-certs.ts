import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/**
 * A throwaway test CA and a leaf for 127.0.0.1/::1/localhost, made with the `openssl` CLI when first needed and kept
 * for the life of the process. Baileys always uploads media over `https://<media_conn host>`, so the loopback needs a
 * certificate the client can be told to trust (via `WA_LOOPBACK_CA_PEM`); nothing here is ever committed.
 */
export type TestTls = { caPem: string; certPem: string; keyPem: string }

let generated: Promise<TestTls> | undefined

export function testTls(): Promise<TestTls> {
  generated ??= generateTestTls()
  return generated
}

async function generateTestTls(): Promise<TestTls> {
  const dir = await mkdtemp(join(tmpdir(), 'wa-loopback-tls-'))
  const file = (name: string) => join(dir, name)
  const openssl = (...args: string[]) =>
    run('openssl', args).catch((err: NodeJS.ErrnoException) => {
      throw new Error(
        err.code === 'ENOENT'
          ? 'wa-loopback needs the openssl CLI to make its test TLS certificate (apt-get install openssl)'
          : `openssl ${args[0]} failed: ${err.message}`,
        { cause: err }
      )
    })
  try {
    const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    await openssl('req', '-x509', ...ecKey, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '7',
      '-subj', '/CN=wa-loopback test CA (not trusted anywhere else)',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    await openssl('req', ...ecKey, '-keyout', file('leaf.key'), '-out', file('leaf.csr'), '-subj', '/CN=127.0.0.1')
    await writeFile(file('leaf.ext'), [
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost'
    ].join('\n'))
    await openssl('x509', '-req', '-in', file('leaf.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
      '-CAcreateserial', '-out', file('leaf.pem'), '-days', '7', '-extfile', file('leaf.ext'))
    const [caPem, certPem, keyPem] = await Promise.all(['ca.pem', 'leaf.pem', 'leaf.key'].map(name => readFile(file(name), 'utf8')))
    return { caPem: caPem!, certPem: certPem!, keyPem: keyPem! }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
