import { describe, expect, it } from 'vitest'
import type { Db, Queryable } from '../../db/driver.js'
import { toId } from '../../db/driver.js'
import { registerRunner } from '../../db/queries/runners.js'
import {
  JOB_NAMES, flagStuck, maintenanceConfig, parseMaintenanceConfig, prune, runDueJobs, runJob, sweep, taskName, unpause,
  type JobContext, type MaintenanceLogger,
} from '../../db/maintenance/jobs.js'
import { createMaintenanceSchedule } from '../../runner/maintenance/schedule.js'
import { createRunnerMetrics } from '../../runner/metrics.js'
import { describeEachEngine } from '../support/db.js'
import { expireLease, getSession, insertMessage, insertSession, ownedSession, ph, setTime, uniqueName, waitFor } from '../support/queue-fixtures.js'

interface LogLine {
  level: string
  fields: Record<string, unknown>
  msg?: string
}

function captureLog(): MaintenanceLogger & { lines: LogLine[] } {
  const lines: LogLine[] = []
  const at = (level: string) => (objOrMsg: unknown, msg?: string) =>
    lines.push(typeof objOrMsg === 'string' ? { level, fields: {}, msg: objOrMsg } : { level, fields: objOrMsg as Record<string, unknown>, msg })
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

function context(db: Db, overrides: Partial<JobContext> = {}): JobContext & { log: ReturnType<typeof captureLog> } {
  return {
    db,
    log: captureLog(),
    config: maintenanceConfig({ prune: { pauseMs: 0 } }),
    runnerId: uniqueName('runner'),
    ...overrides,
  } as JobContext & { log: ReturnType<typeof captureLog> }
}

async function count(db: Queryable, table: string, where: string, params: unknown[] = []): Promise<number> {
  const [r] = await db.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, params)
  return Number(r!.n)
}

const daysAgo = (db: Queryable, days: number) =>
  db.dialect === 'mysql' ? `NOW(6) - INTERVAL ${days} DAY` : `now() - ${days} * interval '1 day'`

async function insertMedia(db: Queryable, createdDaysAgo: number): Promise<number> {
  const text = `INSERT INTO media (bytes, mime, size, width, height, sha256, created_at)
VALUES (${ph(db, 1)}, 'image/jpeg', 3, 1, 1, ${ph(db, 2)}, ${daysAgo(db, createdDaysAgo)})`
  const params = [Buffer.from([1, 2, 3]), uniqueName('sha').padEnd(64, '0').slice(0, 64)]
  if (db.dialect === 'mysql') return (await db.execute(text, params)).insertId!
  const [r] = await db.query(`${text} RETURNING id`, params)
  return toId(r!.id)
}

/** A message in a final state, `days` old. */
async function finishedMessage(db: Queryable, session: string, status: 'sent' | 'failed', days: number, mediaId: number | null = null): Promise<number> {
  const id = await insertMessage(db, { session, type: mediaId ? 'image' : 'text', mediaId })
  const sentAt = status === 'sent' ? daysAgo(db, days) : 'NULL'
  await db.execute(
    `UPDATE messages SET status = '${status}', sent_at = ${sentAt}, created_at = ${daysAgo(db, days)}, updated_at = ${daysAgo(db, days)} WHERE id = ${ph(db, 1)}`,
    [id],
  )
  return id
}

describe('maintenance configuration', () => {
  it('defaults to 30 days for messages and media and the schedule on', () => {
    const c = parseMaintenanceConfig({})
    expect(c).toMatchObject({ retentionDays: 30, mediaRetentionDays: 30, stuckAfterSeconds: 120, scheduleEnabled: true })
  })

  it('follows RETENTION_DAYS for media unless MEDIA_RETENTION_DAYS is set', () => {
    expect(parseMaintenanceConfig({ RETENTION_DAYS: '7' })).toMatchObject({ retentionDays: 7, mediaRetentionDays: 7 })
    expect(parseMaintenanceConfig({ RETENTION_DAYS: '7', MEDIA_RETENTION_DAYS: '60' })).toMatchObject({ mediaRetentionDays: 60 })
    expect(parseMaintenanceConfig({ MAINTENANCE: 'off' }).scheduleEnabled).toBe(false)
  })

  it('names the variable when a value is wrong', () => {
    expect(() => parseMaintenanceConfig({ RETENTION_DAYS: '0' })).toThrow(/RETENTION_DAYS/)
    expect(() => parseMaintenanceConfig({ RETENTION_DAYS: 'ten' })).toThrow(/RETENTION_DAYS/)
    expect(() => parseMaintenanceConfig({ MAINTENANCE: 'sometimes' })).toThrow(/MAINTENANCE/)
  })
})

describeEachEngine('maintenance jobs', (ctx) => {
  it('sweep: marks sessions whose lease expired offline and ownerless, deletes silent runners, leaves live ones', async () => {
    const c = context(ctx.db)
    const dead = await ownedSession(ctx.db, 'runner-dead')
    const live = await ownedSession(ctx.db, 'runner-live')
    await expireLease(ctx.db, dead.name, 15_000)
    const silent = await registerRunner(ctx.db, { host: 'h', pid: 1 })
    const alive = await registerRunner(ctx.db, { host: 'h', pid: 2 })
    await setTime(ctx.db, 'runners', 'heartbeat_at', -180_000, `id = ${ph(ctx.db, 1)}`, [silent])

    const report = await sweep(c)
    expect(report.expiredLeases).toBeGreaterThanOrEqual(1)
    expect(report.deadRunners).toBeGreaterThanOrEqual(1)
    expect(await getSession(ctx.db, dead.name)).toMatchObject({ status: 'offline', owner: null, detail: 'lease expired' })
    expect(await getSession(ctx.db, live.name)).toMatchObject({ owner: 'runner-live' })
    expect(await count(ctx.db, 'runners', `id = ${ph(ctx.db, 1)}`, [silent])).toBe(0)
    expect(await count(ctx.db, 'runners', `id = ${ph(ctx.db, 1)}`, [alive])).toBe(1)
    // Safe to repeat: nothing left to do.
    expect(await sweep(c)).toEqual({ expiredLeases: 0, deadRunners: 0 })
  })

  it('stuck: flags messages sending for more than 2 minutes, logs their ids and counts them in metrics, changes nothing', async () => {
    const metrics = createRunnerMetrics()
    const c = context(ctx.db, { metrics: metrics.maintenance })
    const a = await ownedSession(ctx.db, 'runner-a')
    const b = await ownedSession(ctx.db, 'runner-b')
    const old = await insertMessage(ctx.db, { session: a.name })
    const fresh = await insertMessage(ctx.db, { session: b.name })
    for (const [id, agoMs] of [[old, 180_000], [fresh, 30_000]] as const) {
      await ctx.db.execute(
        `UPDATE messages SET status = 'sending', claimed_by = 'runner-x', claim_epoch = 1, claimed_at = ${
          ctx.db.dialect === 'mysql' ? `NOW(6) - INTERVAL ${agoMs / 1000} SECOND` : `now() - ${agoMs / 1000} * interval '1 second'`
        } WHERE id = ${ph(ctx.db, 1)}`,
        [id],
      )
    }
    const report = await flagStuck(c)
    expect(report.messages.map((m) => m.id)).toContain(old)
    expect(report.messages.map((m) => m.id)).not.toContain(fresh)
    const warn = c.log.lines.find((l) => l.level === 'warn')
    expect(warn?.fields).toMatchObject({ job: 'stuck', count: report.stuck })
    expect(JSON.stringify(warn?.fields)).toContain(String(old))
    expect(metrics.stuckFlagged.get()).toBe(report.stuck)
    expect(metrics.registry.render()).toMatch(new RegExp(`^wa_gateway_stuck_messages ${report.stuck}$`, 'm'))
    const [row] = await ctx.db.query<{ status: string }>(`SELECT status FROM messages WHERE id = ${ph(ctx.db, 1)}`, [old])
    expect(row!.status).toBe('sending')
    await ctx.db.execute(`UPDATE messages SET status = 'failed' WHERE id IN (${ph(ctx.db, 1)}, ${ph(ctx.db, 2)})`, [old, fresh])
  })

  it('prune: deletes sent messages past RETENTION_DAYS and their media, keeps failed ones with their media and recent ones', async () => {
    const c = context(ctx.db, { config: maintenanceConfig({ retentionDays: 30, prune: { pauseMs: 0, batchSize: 2, mediaBatchSize: 2 } }) })
    const session = uniqueName('p')
    await insertSession(ctx.db, session)
    const oldMedia = await insertMedia(ctx.db, 40)
    const failedMedia = await insertMedia(ctx.db, 40)
    const oldSent = await finishedMessage(ctx.db, session, 'sent', 40, oldMedia)
    const moreOldSent = await Promise.all([1, 2, 3, 4].map(() => finishedMessage(ctx.db, session, 'sent', 35)))
    const oldFailed = await finishedMessage(ctx.db, session, 'failed', 40, failedMedia)
    const recentSent = await finishedMessage(ctx.db, session, 'sent', 5)
    await ctx.db.execute(
      `INSERT INTO cron_runs (task, slot, runner) VALUES ('old-task', ${daysAgo(ctx.db, 8)}, 'r'), ('new-task', ${daysAgo(ctx.db, 1)}, 'r')`,
    )
    // Webhook deliveries: settled ones past the retention go; pending, delivering and recent ones stay.
    const hook = uniqueName('h')
    const delivery = (status: string, days: number) =>
      ctx.db.execute(
        `INSERT INTO webhook_deliveries (webhook_id, event_id, type, payload, status, next_attempt_at, created_at, updated_at)
         VALUES (424242, ${ph(ctx.db, 1)}, 'message.sent', '{}', ${ph(ctx.db, 2)}, ${daysAgo(ctx.db, days)}, ${daysAgo(ctx.db, days)}, ${daysAgo(ctx.db, days)})`,
        [`${hook}-${status}-${days}`, status],
      )
    for (const [status, days] of [['delivered', 40], ['dead', 40], ['delivered', 35], ['pending', 40], ['delivering', 40], ['delivered', 5]] as const) {
      await delivery(status, days)
    }

    // Group members' receipts: by age, like the sent messages they belong to.
    for (const [member, days] of [['old-1', 40], ['old-2', 35], ['new', 5]] as const) {
      await ctx.db.execute(
        `INSERT INTO message_receipts (wa_message_id, participant, delivered_at, recorded_at) VALUES (${ph(ctx.db, 1)}, ${ph(ctx.db, 2)}, ${daysAgo(ctx.db, days)}, ${daysAgo(ctx.db, days)})`,
        [`${hook}-receipt`, member],
      )
    }

    const report = await prune(c)
    expect(report.memberReceipts).toBe(2)
    expect((await ctx.db.query<{ participant: string }>(`SELECT participant FROM message_receipts WHERE wa_message_id = ${ph(ctx.db, 1)}`, [`${hook}-receipt`])).map((r) => r.participant)).toEqual(['new'])
    // Several small batches: 5 old sent rows with batches of 2.
    expect(report.messages).toBe(5)
    expect(report.media).toBe(1)
    expect(report.cronRuns).toBe(1)
    expect(report.webhookDeliveries).toBe(3)
    const kept = await ctx.db.query<{ event_id: string }>('SELECT event_id FROM webhook_deliveries WHERE webhook_id = 424242 ORDER BY event_id')
    expect(kept.map((r) => r.event_id)).toEqual([`${hook}-delivered-5`, `${hook}-delivering-40`, `${hook}-pending-40`])
    const left = (await ctx.db.query<{ id: unknown }>(`SELECT id FROM messages WHERE session = ${ph(ctx.db, 1)}`, [session])).map((r) => toId(r.id))
    expect(left.sort((x, y) => x - y)).toEqual([oldFailed, recentSent].sort((x, y) => x - y))
    expect(left).not.toContain(oldSent)
    expect(left).not.toContain(moreOldSent[0])
    expect(await count(ctx.db, 'media', `id = ${ph(ctx.db, 1)}`, [oldMedia])).toBe(0)
    expect(await count(ctx.db, 'media', `id = ${ph(ctx.db, 1)}`, [failedMedia])).toBe(1)
    expect(await count(ctx.db, 'cron_runs', `task = 'new-task'`)).toBe(1)
    expect(await prune(c)).toEqual({ messages: 0, media: 0, webhookDeliveries: 0, cronRuns: 0, numberChecks: 0, memberReceipts: 0 })
  })

  it('unpause: clears a pause whose paused_until has passed (with its detail), keeps one still running', async () => {
    const c = context(ctx.db)
    const over = await ownedSession(ctx.db, 'runner-p')
    const running = await ownedSession(ctx.db, 'runner-p')
    await ctx.db.execute(`UPDATE sessions SET detail = 'restricted' WHERE name IN (${ph(ctx.db, 1)}, ${ph(ctx.db, 2)})`, [over.name, running.name])
    await setTime(ctx.db, 'sessions', 'paused_until', -1000, `name = ${ph(ctx.db, 1)}`, [over.name])
    await setTime(ctx.db, 'sessions', 'paused_until', 3_600_000, `name = ${ph(ctx.db, 1)}`, [running.name])
    const report = await unpause(c)
    expect(report.released).toContain(over.name)
    expect(report.released).not.toContain(running.name)
    expect(await getSession(ctx.db, over.name)).toMatchObject({ pausedUntil: null, detail: null })
    expect(await getSession(ctx.db, running.name)).toMatchObject({ detail: 'restricted' })
    expect((await getSession(ctx.db, running.name))!.pausedUntil).not.toBeNull()
  })

  it('logs what each job did and turns an error into a logged "failed" outcome instead of throwing', async () => {
    const c = context(ctx.db)
    const out = await runJob(c, 'sweep')
    expect(out.outcome).toBe('ran')
    expect(c.log.lines.find((l) => l.msg === 'maintenance sweep done')?.fields).toMatchObject({ job: 'sweep', expiredLeases: 0 })
    const broken = { ...ctx.db, query: () => Promise.reject(new Error('boom')), execute: () => Promise.reject(new Error('boom')) } as unknown as Db
    const bc = context(broken)
    const failed = await runDueJobs(bc)
    expect(failed.map((o) => o.outcome)).toEqual(JOB_NAMES.map(() => 'failed'))
    expect(bc.log.lines.filter((l) => l.level === 'error')).toHaveLength(JOB_NAMES.length)
  })
})

describeEachEngine('maintenance slots and schedule', (ctx) => {
  it('runs a job once per slot: the first claimant runs it, the others skip', async () => {
    const metrics = createRunnerMetrics()
    const first = await runJob(context(ctx.db, { runnerId: 'runner-1', metrics: metrics.maintenance }), 'prune', { claimSlot: true })
    const second = await runJob(context(ctx.db, { runnerId: 'runner-2', metrics: metrics.maintenance }), 'prune', { claimSlot: true })
    expect([first.outcome, second.outcome]).toEqual(['ran', 'skipped'])
    const rows = await ctx.db.query<{ runner: string }>(`SELECT runner FROM cron_runs WHERE task = ${ph(ctx.db, 1)}`, [taskName('prune')])
    expect(rows.map((r) => r.runner)).toEqual(['runner-1'])
    expect(metrics.registry.render()).toContain('wa_gateway_maintenance_runs_total{job="prune",outcome="skipped"} 1')
    // By hand (no slot) it runs anyway: the jobs are safe to repeat.
    expect((await runJob(context(ctx.db), 'prune')).outcome).toBe('ran')
  })

  it('schedule: start() ticks and claims every job slot, stop() waits for the tick in progress', async () => {
    const c = context(ctx.db, { runnerId: 'runner-sched' })
    const schedule = createMaintenanceSchedule(c, { pattern: '* * * * * *' })
    schedule.start()
    expect(schedule.running).toBe(true)
    try {
      await waitFor(async () => (await count(ctx.db, 'cron_runs', `task LIKE 'maintenance:%' AND task <> ${ph(ctx.db, 1)}`, [taskName('prune')])) >= 3, 15_000, 100)
    } finally {
      await schedule.stop()
    }
    expect(schedule.running).toBe(false)
    for (const job of ['sweep', 'stuck', 'unpause'] as const) {
      expect(await count(ctx.db, 'cron_runs', `task = ${ph(ctx.db, 1)}`, [taskName(job)])).toBeGreaterThanOrEqual(1)
    }
    // runOnce right after: every 60 s slot was just taken (unless the minute turned), so nothing runs twice in a slot.
    const outcomes = await schedule.runOnce()
    expect(outcomes.every((o) => o.outcome === 'ran' || o.outcome === 'skipped')).toBe(true)
  })

  it('schedule: MAINTENANCE=off leaves the jobs to other processes', async () => {
    const c = context(ctx.db, { config: maintenanceConfig({ scheduleEnabled: false }) })
    const schedule = createMaintenanceSchedule(c)
    schedule.start()
    expect(schedule.running).toBe(false)
    expect(c.log.lines.some((l) => /MAINTENANCE=off/.test(l.msg ?? ''))).toBe(true)
    await schedule.stop()
  })

  it('refuses a bad croner pattern at construction', () => {
    expect(() => createMaintenanceSchedule(context(ctx.db), { pattern: 'every minute' })).toThrow()
  })
})
