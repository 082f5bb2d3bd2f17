import { describe, expect, it } from 'vitest'
import { createReachabilityNotice, unreachableCause } from '../../runner/whatsapp/reachability.js'

describe('WhatsApp reachability notice', () => {
  it('recognises the closes of a network that does not reach WhatsApp, not other closes', () => {
    expect(unreachableCause({ code: 408, message: 'WebSocket Error (getaddrinfo ENOTFOUND web.whatsapp.com)' })).toContain('ENOTFOUND')
    expect(unreachableCause({ code: null, message: 'WebSocket Error (connect ECONNREFUSED 127.0.0.1:9)' })).toContain('ECONNREFUSED')
    expect(unreachableCause({ code: 408, message: 'Timed Out' })).toBe('Timed Out')
    expect(unreachableCause({ code: 428, message: 'Connection Terminated' })).toBeNull()
    expect(unreachableCause({ code: 503, message: 'Stream Errored (unknown)' })).toBeNull()
  })

  it('says once that WhatsApp cannot be reached, once that it can again, and nothing more', () => {
    const said: string[] = []
    const notice = createReachabilityNotice((t) => said.push(t))
    notice.reachable()
    expect(said).toEqual([])
    notice.unreachable('getaddrinfo ENOTFOUND web.whatsapp.com')
    notice.unreachable('getaddrinfo ENOTFOUND web.whatsapp.com')
    expect(said).toHaveLength(1)
    expect(said[0]).toContain('WhatsApp cannot be reached from this machine (getaddrinfo ENOTFOUND web.whatsapp.com)')
    expect(said[0]).toMatch(/DNS, a firewall, or a proxy/)
    notice.reachable()
    notice.reachable()
    expect(said).toHaveLength(2)
    expect(said[1]).toContain('WhatsApp can be reached again')
  })
})
