import { describe, expect, it } from 'vitest'
import { addressRefusal, checkWebhookUrl, hostAllowed, parseAllowEntry, parseWebhookUrlPolicy } from '../../db/shared/url-guard.js'
import { parseApiConfig } from '../../api/config.js'
import { ConfigError } from '../../db/shared/settings.js'
import { parseWebhookConfig } from '../../runner/webhooks/config.js'
import { failedAnswerError } from '../../runner/webhooks/deliverer.js'

/**
 * Webhook targets an attacker with an API key would try, to make the gateway call into its own network (SSRF), and
 * the allow-list and `last_error` rules that keep what a private receiver answers out of the deliveries API.
 */
describe('addresses embedding a private IPv4 address, or private by themselves (IANA special-purpose registries)', () => {
  it.each([
    // IPv4-translated (::ffff:0:0:0/96, RFC 6145): SIIT translates it to the embedded IPv4 address.
    ['::ffff:0:7f00:1', /IPv4-translated loopback/],
    ['::ffff:0:10.0.0.1', /IPv4-translated private \(10/],
    ['0:0:0:0:ffff:0:a9fe:a9fe', /IPv4-translated link-local/],
    // IPv4-mapped (::ffff:0:0/96) and the NAT64 well-known prefix.
    ['::ffff:127.0.0.1', /IPv4-mapped loopback/],
    ['64:ff9b::192.168.1.1', /NAT64 private/],
    // Local-use NAT64 (RFC 8215): the operator's own translator, whatever it embeds.
    ['64:ff9b:1::808:808', /local-use NAT64/],
    ['64:ff9b:1:ffff::1', /local-use NAT64/],
    ['2002:7f00:1::1', /6to4 loopback/],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', /Teredo/],
    ['2001:2::1', /benchmarking/],
    ['3fff:abc::1', /documentation \(3fff/],
    ['5f00:1::1', /SRv6/],
    ['100::dead', /discard/],
    ['100:0:0:1::1', /dummy prefix/],
  ])('%s is refused', (address, why) => {
    expect(addressRefusal(address)).toMatch(why)
    expect(checkWebhookUrl(`http://[${address}]:8080/hook`)).toMatchObject({ ok: false })
  })

  it.each(['::ffff:0:808:808', '64:ff9b::808:808', '2002:808:808::1', '2606:4700:4700::1111', '3fff:1000::1', '8.8.8.8'])(
    '%s (public IPv4 inside, or plain public) is allowed',
    (address) => {
      expect(addressRefusal(address)).toBeNull()
    },
  )
})

describe('WEBHOOK_ALLOW_HOSTS entries need a port', () => {
  it.each(['receiver.lan', '127.0.0.1', '::1', '*.internal.example', 'receiver.lan:', 'receiver.lan:0', 'receiver.lan:70000', 'a/b:80', 'user@host:80', 'receiver.lan:80x'])(
    '"%s" is refused with a message that shows the fix',
    (entry) => {
      const parsed = parseAllowEntry(entry)
      expect(parsed).toHaveProperty('error')
      expect(() => parseWebhookUrlPolicy(`ok.example:443,${entry}`, undefined)).toThrow(/WEBHOOK_ALLOW_HOSTS entry/)
    },
  )

  it('both the API and the runner refuse to start with a portless entry', () => {
    expect(() => parseApiConfig({ API_SECRET: 'k'.repeat(32), WEBHOOK_ALLOW_HOSTS: 'receiver.lan' })).toThrow(ConfigError)
    expect(() => parseApiConfig({ API_SECRET: 'k'.repeat(32), WEBHOOK_ALLOW_HOSTS: 'receiver.lan' })).toThrow(/receiver\.lan:8080 allows that port only, receiver\.lan:\* every port/)
    expect(() => parseWebhookConfig({ WEBHOOK_ALLOW_HOSTS: '[::1]:8080,127.0.0.1' })).toThrow(/"127\.0\.0\.1" needs a port/)
    expect(() => parseWebhookConfig({ WEBHOOK_ALLOW_HOSTS: '::1' })).toThrow(/\[::1\]:8080/)
  })

  it('an entry allows its own port only; * allows every port', () => {
    const policy = parseWebhookUrlPolicy('receiver.lan:8080, [::1]:9000, *.corp.example:443, 10.0.0.5:*', undefined)
    const allowed = (url: string) => hostAllowed(new URL(url), policy)
    expect(allowed('http://receiver.lan:8080/hook')).toBe(true)
    expect(allowed('http://RECEIVER.lan:8080/hook')).toBe(true)
    expect(allowed('http://receiver.lan/hook')).toBe(false)
    expect(allowed('http://receiver.lan:5432/hook')).toBe(false)
    expect(allowed('http://[::1]:9000/')).toBe(true)
    expect(allowed('http://[0:0::1]:9000/')).toBe(true)
    expect(allowed('http://[::1]:9001/')).toBe(false)
    expect(allowed('https://hooks.corp.example/')).toBe(true)
    expect(allowed('http://hooks.corp.example/')).toBe(false)
    expect(allowed('https://corp.example.evil.test/')).toBe(false)
    expect(allowed('http://10.0.0.5:22/')).toBe(true)
    expect(allowed('http://10.0.0.6:22/')).toBe(false)
    // Refused through checkWebhookUrl the same way: the port decides.
    expect(checkWebhookUrl('http://receiver.lan:5432/', policy)).toMatchObject({ ok: false })
    expect(checkWebhookUrl('http://receiver.lan:8080/', policy)).toMatchObject({ ok: true, allowListed: true })
  })

  it('an entry without a port in a policy built by hand matches nothing', () => {
    expect(hostAllowed(new URL('http://127.0.0.1:8080/'), { allowHosts: ['127.0.0.1'], allowPrivate: false })).toBe(false)
  })
})

describe('last_error keeps a private receiver\'s answer to its status line', () => {
  const answer = { status: 500, statusText: 'Internal Server Error', snippet: 'root:x:0:0:root:/root:/bin/bash\ninternal token abc123', location: null }

  it('private receivers: status line only, no body and no redirect target', () => {
    for (const remoteAddress of ['127.0.0.1', '::ffff:10.0.0.7', '192.168.1.20', 'fd00::5', null]) {
      expect(failedAnswerError({ ...answer, remoteAddress })).toBe('HTTP 500 Internal Server Error')
    }
    const redirect = failedAnswerError({ status: 302, statusText: 'Found', snippet: '', location: 'http://169.254.169.254/latest/meta-data/iam', remoteAddress: '10.1.1.1' })
    expect(redirect).toBe('HTTP 302 Found: redirects are not followed; configure the final URL')
  })

  it('public receivers: the start of the body helps the operator, as before', () => {
    expect(failedAnswerError({ ...answer, snippet: 'signature mismatch', remoteAddress: '8.8.8.8' })).toBe('HTTP 500 Internal Server Error: signature mismatch')
    expect(failedAnswerError({ status: 301, statusText: 'Moved', snippet: '', location: 'https://new.example/hook', remoteAddress: '2606:4700::1' }))
      .toBe('HTTP 301 Moved: redirects are not followed (to https://new.example/hook); configure the final URL')
  })
})
