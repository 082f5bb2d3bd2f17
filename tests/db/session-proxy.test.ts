/**
 * The proxy per number in the database (db/queries/proxy.ts), on every engine: the runners' published key, the sealed
 * and masked URL with its change flag, the flag in the runner's command poll, and taking it under the lease only.
 */
import { expect, it } from 'vitest'
import { findSessionRequests } from '../../db/queries/session-reports.js'
import { clearProxyChange, publishRunnerKey, readRunnerKey, readSealedProxy, writeSessionProxy } from '../../db/queries/proxy.js'
import { requestSessionDelete } from '../../db/queries/sessions.js'
import { updateSessionSettings } from '../../db/lifecycle/settings.js'
import { checkProxyUrl, maskProxyUrl, sealProxyUrl } from '../../db/shared/proxy.js'
import { deriveProxyKey } from '../../runner/proxy-key.js'
import { describeEachEngine } from '../support/db.js'
import { getSession, insertSession, ownedSession, uniqueName } from '../support/queue-fixtures.js'
import { newKey } from '../runner/helpers.js'

describeEachEngine('session proxy', (ctx) => {
  it('a published key replaces the previous one; none before the first', async () => {
    const name = uniqueName('k')
    expect(await readRunnerKey(ctx.db, name)).toBeNull()
    await publishRunnerKey(ctx.db, name, 'first')
    await publishRunnerKey(ctx.db, name, 'second')
    expect(await readRunnerKey(ctx.db, name)).toBe('second')
  })

  it('stores the sealed URL and the masked one, flags the change, and the runner opens exactly the URL', async () => {
    const key = deriveProxyKey(newKey())
    const name = uniqueName('p')
    await insertSession(ctx.db, name)
    const url = 'socks5://alice:Pw%2Fsecret@10.1.2.3:1080'
    const sealed = await sealProxyUrl(url, key.publicKey, name)
    expect(sealed).not.toContain('secret')
    expect(await updateSessionSettings(ctx.db, name, { dailyCap: 9 }, { sealed, url: maskProxyUrl(checkProxyUrl(url)) })).toBe(true)
    const row = (await getSession(ctx.db, name))!
    expect(row.proxyUrl).toBe('socks5://alice:***@10.1.2.3:1080')
    expect(row.settings.dailyCap).toBe(9)
    expect(await readSealedProxy(ctx.db, name)).toBe(sealed)
    expect(key.open(sealed, name)).toBe(url)
    // Bound to its session (the name is the additional data) and to the runners' key.
    expect(() => key.open(sealed, `${name}x`)).toThrow()
    expect(() => deriveProxyKey(newKey()).open(sealed, name)).toThrow()
    // Omitted: unchanged. null: cleared.
    await updateSessionSettings(ctx.db, name, { dailyCap: 10 })
    expect(await readSealedProxy(ctx.db, name)).toBe(sealed)
    await updateSessionSettings(ctx.db, name, {}, null)
    expect(await readSealedProxy(ctx.db, name)).toBeNull()
    expect((await getSession(ctx.db, name))!.proxyUrl).toBeNull()
  })

  it('the change shows in the lease holder\'s command poll and is taken once, under the lease only', async () => {
    const s = await ownedSession(ctx.db, uniqueName('owner'))
    expect((await findSessionRequests(ctx.db, s.owner)).commands.map((c) => c.name)).toEqual([])
    expect(await writeSessionProxy(ctx.db, s.name, { sealed: 'v1.a.b.c', url: 'http://h:1' })).toBe(true)
    const [cmd] = (await findSessionRequests(ctx.db, s.owner)).commands
    expect(cmd).toMatchObject({ name: s.name, proxyChanged: true, reconnectRequestedAt: null, deleteRequestedAt: null })
    expect(await clearProxyChange(ctx.db, { name: s.name, owner: 'someone-else', epoch: s.epoch })).toBe(false)
    expect(await clearProxyChange(ctx.db, { name: s.name, owner: s.owner, epoch: s.epoch + 1 })).toBe(false)
    expect(await clearProxyChange(ctx.db, s)).toBe(true)
    expect(await clearProxyChange(ctx.db, s)).toBe(false)
    expect((await findSessionRequests(ctx.db, s.owner)).commands).toEqual([])
  })

  it('a session being deleted (or missing) takes no proxy', async () => {
    const name = uniqueName('d')
    await insertSession(ctx.db, name)
    expect(await requestSessionDelete(ctx.db, name)).toBe('ok')
    expect(await writeSessionProxy(ctx.db, name, { sealed: 'v1.a.b.c', url: 'http://h:1' })).toBe(false)
    expect(await updateSessionSettings(ctx.db, name, {}, null)).toBe(false)
    expect(await writeSessionProxy(ctx.db, uniqueName('none'), null)).toBe(false)
    expect(await readSealedProxy(ctx.db, name)).toBeNull()
  })
})
