import { afterEach, describe, expect, it } from 'vitest'
import { Registry, createRunnerMetrics, instrumentWhatsApp, startMetricsServer, type MetricsServer } from '../../runner/metrics.js'
import type { WhatsAppClient, WhatsAppClientFactory, WhatsAppHandlers } from '../../runner/whatsapp/client.js'

describe('runner metrics registry', () => {
  it('renders counters, gauges and histograms in Prometheus text format', () => {
    const r = new Registry()
    const c = r.counter('t_events_total', 'Events.')
    const g = r.gauge('t_level', 'Level.')
    const h = r.histogram('t_latency_seconds', 'Latency.', [0.1, 1])
    c.inc()
    c.inc({ kind: 'a"b\\c\nd' }, 2)
    g.set({ status: 'online' }, 3)
    h.observe(0.05)
    h.observe(0.5)
    h.observe(5)
    expect(r.render()).toBe(
      [
        '# HELP t_events_total Events.',
        '# TYPE t_events_total counter',
        't_events_total 1',
        't_events_total{kind="a\\"b\\\\c\\nd"} 2',
        '# HELP t_level Level.',
        '# TYPE t_level gauge',
        't_level{status="online"} 3',
        '# HELP t_latency_seconds Latency.',
        '# TYPE t_latency_seconds histogram',
        't_latency_seconds_bucket{le="0.1"} 1',
        't_latency_seconds_bucket{le="1"} 2',
        't_latency_seconds_bucket{le="+Inf"} 3',
        't_latency_seconds_sum 5.55',
        't_latency_seconds_count 3',
        '',
      ].join('\n'),
    )
  })

  it('refuses duplicate or invalid names and ignores negative counter increments', () => {
    const r = new Registry()
    r.counter('ok_total', 'x')
    expect(() => r.counter('ok_total', 'x')).toThrow(/twice/)
    expect(() => r.gauge('bad-name', 'x')).toThrow(/invalid/)
    const c = r.counter('n_total', 'x')
    c.inc(-5)
    expect(c.get()).toBe(0)
  })

  it('exposes every instrument the runner feeds, under stable names', () => {
    const m = createRunnerMetrics()
    m.sessions.set({ status: 'online' }, 2)
    m.reconnects.inc({ reason: 'connection_lost' })
    m.sends.inc({ outcome: 'acked' })
    m.sendLatency.observe(0.3)
    m.claimLatency.startTimer()()
    m.restricted463.inc()
    m.maintenance.stuckFlagged(2)
    m.maintenance.jobRun('prune', 'ran', 0.2)
    const text = m.registry.render()
    for (const line of [
      'wa_gateway_runner_sessions{status="online"} 2',
      'wa_gateway_runner_reconnects_total{reason="connection_lost"} 1',
      'wa_gateway_runner_sends_total{outcome="acked"} 1',
      'wa_gateway_runner_send_latency_seconds_count 1',
      'wa_gateway_runner_claim_latency_seconds_count 1',
      'wa_gateway_runner_restricted_463_total 1',
      'wa_gateway_stuck_messages_flagged_total 2',
      'wa_gateway_stuck_messages 2',
      'wa_gateway_maintenance_runs_total{job="prune",outcome="ran"} 1',
    ]) {
      expect(text).toContain(line)
    }
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m)
  })
})

describe('WhatsApp seam instrumentation', () => {
  it('counts reconnects by the previous close, sends by outcome with ack latency, and 463 negative acks', async () => {
    let handlers!: WhatsAppHandlers
    let failNext = false
    const fake = {
      session: 's1', paired: true, phone: '961',
      async connect(h: WhatsAppHandlers) { handlers = h },
      async send() { if (failNext) throw new Error('not connected') },
      isOnWhatsApp: async () => true, phoneForLid: async () => null, newMessageId: () => 'id',
      logout: async () => {}, wipe: async () => {}, close: async () => {},
    } satisfies WhatsAppClient
    const factory: WhatsAppClientFactory = { create: async () => fake }
    const m = createRunnerMetrics()
    const client = await instrumentWhatsApp(factory, m).create('s1', {} as never)
    expect([client.session, client.paired, client.phone]).toEqual(['s1', true, '961'])
    const seen: string[] = []
    const h = {
      onQr() {}, onOpen() {}, onReady() {}, onReceipt() {}, onInbound: async () => {}, onLidMapping() {}, onStorageError() {},
      onClose: (r: { kind: string }) => seen.push(`close:${r.kind}`),
      onServerAck: (id: string) => seen.push(`ack:${id}`),
      onErrorAck: (a: { id: string; code: string }) => seen.push(`nack:${a.id}:${a.code}`),
    } as unknown as WhatsAppHandlers
    await client.connect(h)
    await client.send('961@s.whatsapp.net', 'A', { kind: 'text', text: 'hi' })
    handlers.onServerAck('A')
    await client.send('961@s.whatsapp.net', 'B', { kind: 'text', text: 'hi' })
    handlers.onErrorAck({ id: 'B', code: '463', reason: null })
    failNext = true
    await expect(client.send('961@s.whatsapp.net', 'C', { kind: 'text', text: 'hi' })).rejects.toThrow('not connected')
    handlers.onClose({ kind: 'transient', code: 408, message: 'x' })
    await client.connect(h)
    expect(seen).toEqual(['ack:A', 'nack:B:463', 'close:transient'])
    expect(m.sends.get({ outcome: 'acked' })).toBe(1)
    expect(m.sends.get({ outcome: 'error_ack' })).toBe(1)
    expect(m.sends.get({ outcome: 'failed' })).toBe(1)
    expect(m.sendLatency.count()).toBe(1)
    expect(m.restricted463.get()).toBe(1)
    expect(m.reconnects.get({ reason: 'transient' })).toBe(1)
  })
})

describe('WhatsApp seam instrumentation forwards every member', () => {
  it('calls through for each member of the client, the optional ones included, and adds none the client lacks', async () => {
    const calls: string[] = []
    const record = <T>(name: string, value: T) => (...args: unknown[]) => (calls.push(`${name}(${args.join(',')})`), value)
    // Required<…>: a member added to the interface, optional or not, must be added here, and then to the wrapper.
    const full = {
      session: 's1', paired: false, phone: null,
      connect: record('connect', Promise.resolve()), send: record('send', Promise.resolve()),
      isOnWhatsApp: record('isOnWhatsApp', Promise.resolve(true)), phoneForLid: record('phoneForLid', Promise.resolve(null)),
      newMessageId: record('newMessageId', 'id'), logout: record('logout', Promise.resolve()), wipe: record('wipe', Promise.resolve()),
      close: record('close', Promise.resolve()), reset: record('reset', undefined), requestPairingCode: record('requestPairingCode', Promise.resolve('ABCD-EFGH')),
      showPresence: record('showPresence', Promise.resolve()), lookUp: record('lookUp', Promise.resolve(false)),
      fetchGroups: record('fetchGroups', Promise.resolve([])), fetchGroup: record('fetchGroup', Promise.resolve(null)),
    } satisfies Required<WhatsAppClient>
    const wrapped = await instrumentWhatsApp({ create: async () => full }, createRunnerMetrics()).create('s1', {} as never)
    for (const [name, member] of Object.entries(full)) {
      if (typeof member !== 'function') continue
      const fn = (wrapped as unknown as Record<string, unknown>)[name]
      expect(typeof fn, name).toBe('function')
      calls.length = 0
      const arg = name === 'connect' ? {} : 'x'
      await (fn as (...a: unknown[]) => unknown)(arg, 'y', { kind: 'text', text: 't' })
      expect(calls[0], name).toMatch(new RegExp(`^${name}\\(`))
    }
    expect(await wrapped.requestPairingCode!('9611234567')).toBe('ABCD-EFGH')
    // A send's options (the quoted message, the fence check before a relay) reach the client unchanged.
    const seenOptions: unknown[] = []
    const withOptions = await instrumentWhatsApp({ create: async () => ({ ...full, send: async (...args: unknown[]) => void seenOptions.push(args[3]) }) }, createRunnerMetrics()).create('s1', {} as never)
    const options = { quoted: { id: 'Q1', senderJid: '961@s.whatsapp.net', text: 'hi' } }
    await withOptions.send('961', 'A', { kind: 'text', text: 'reply' }, options as never)
    expect(seenOptions).toEqual([options])

    const { reset: _r, requestPairingCode: _p, showPresence: _s, lookUp: _l, fetchGroups: _g, fetchGroup: _o, ...minimal } = full
    const bare = await instrumentWhatsApp({ create: async () => minimal }, createRunnerMetrics()).create('s1', {} as never)
    expect(bare.reset).toBeUndefined()
    expect(bare.requestPairingCode).toBeUndefined()
    expect(bare.showPresence).toBeUndefined()
    expect(bare.fetchGroups).toBeUndefined()
    expect(bare.fetchGroup).toBeUndefined()
    expect(bare.lookUp).toBeUndefined()
  })
})

describe('runner private port', () => {
  let server: MetricsServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  it('serves /metrics and /healthz on 127.0.0.1, 503 when unhealthy', async () => {
    const metrics = createRunnerMetrics()
    let ok = true
    server = await startMetricsServer({ port: 0, metrics, health: () => ({ ok, sessions: 1 }) })
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const m = await fetch(`${server.url}/metrics`)
    expect(m.status).toBe(200)
    expect(m.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(await m.text()).toContain('# TYPE wa_gateway_runner_sends_total counter')
    const h = await fetch(`${server.url}/healthz`)
    expect([h.status, await h.json()]).toEqual([200, { ok: true, sessions: 1 }])
    ok = false
    expect((await fetch(`${server.url}/healthz`)).status).toBe(503)
    expect((await fetch(`${server.url}/other`)).status).toBe(404)
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405)
  })
})
