/**
 * Child process of slot-race.test.ts: opens its own connection, prints `ready`, waits for `go` on stdin, then runs
 * one job the way the schedules do (`runJob(…, { claimSlot: true })`) and prints the outcome as one JSON line.
 * argv: <job> <runner id>; DATABASE_URL from the environment.
 */
import { createInterface } from 'node:readline'
import { openDb, parseDbConfig } from '../../db/index.js'
import { isJobName, maintenanceConfig, runJob } from '../../db/maintenance/jobs.js'

const [job, runnerId] = process.argv.slice(2)
if (!job || !isJobName(job) || !runnerId) throw new Error('usage: fire-slot.ts <job> <runner id>')
const db = await openDb(parseDbConfig(process.env), { poolSize: 1 })
const quiet = { debug() {}, info() {}, warn() {}, error() {} }
await db.query('SELECT 1')
const lines = createInterface({ input: process.stdin })
console.log('ready')
for await (const line of lines) {
  if (line.trim() !== 'go') continue
  const out = await runJob({ db, log: quiet, config: maintenanceConfig({ prune: { pauseMs: 0 } }), runnerId }, job, { claimSlot: true })
  console.log(JSON.stringify({ runnerId, outcome: out.outcome, error: out.error }))
  break
}
lines.close()
await db.close()
