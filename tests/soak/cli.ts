/**
 * `npm run soak -- --minutes N [--engine mysql|postgres] [--messages 20000] [--sessions 100] [--runners 3]
 *                  [--outage proxy|real] [--throttle 800-1600] [--json out.json] [--logs DIR]`
 *
 * Runs the soak-and-fault suite (tests/soak/harness.ts) once and prints the report; exits 1 if any rule broke.
 * Every runner's log lines are written to `--logs DIR` (default: a fresh folder in the temp directory, printed).
 * `--outage real` stops and restarts the real database server (as root) instead of cutting a TCP proxy: other
 * clients of that server fail for those seconds.
 */
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { runSoak } from './harness.js'
import { checkReport, formatReport } from './report.js'

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    engine: { type: 'string', default: 'mysql' },
    messages: { type: 'string', default: '20000' },
    sessions: { type: 'string', default: '100' },
    runners: { type: 'string', default: '3' },
    outage: { type: 'string', default: 'proxy' },
    'outage-seconds': { type: 'string', default: '20' },
    throttle: { type: 'string', default: '800-1600' },
    drain: { type: 'string', default: '600' },
    seed: { type: 'string', default: '9' },
    json: { type: 'string' },
    logs: { type: 'string' },
  },
})

const engine = values.engine === 'postgres' || values.engine === 'pg' ? 'postgres' : values.engine === 'mysql' || values.engine === 'mariadb' ? 'mysql' : null
if (!engine) throw new Error('--engine must be mysql or postgres')
if (values.outage !== 'proxy' && values.outage !== 'real' && values.outage !== 'none') throw new Error('--outage must be proxy, real or none')
const [min, max] = values.throttle.split('-').map(Number)
const report = await runSoak({
  engine,
  minutes: Number(values.minutes),
  messages: Number(values.messages),
  sessions: Number(values.sessions),
  runners: Number(values.runners),
  throttleMinMs: min!,
  throttleMaxMs: max ?? min!,
  outage: values.outage === 'none' ? null : { mode: values.outage, atFraction: 0.4, durationMs: Number(values['outage-seconds']) * 1000 },
  drainTimeoutMs: Number(values.drain) * 1000,
  seed: Number(values.seed),
  // Runner logs are kept by default: a failed rule is traced through the lines of the runner that held the session.
  logDir: values.logs ?? join(tmpdir(), `wa-soak-${engine}-${new Date().toISOString().replace(/[:.]/g, '-')}`),
})
const violations = checkReport(report)
console.log(`\n${formatReport(report, violations)}`)
console.log(`\nreproduce: npm run soak -- --minutes ${values.minutes} --engine ${engine} --messages ${values.messages} --sessions ${values.sessions} --runners ${values.runners} --outage ${values.outage} --throttle ${values.throttle} --seed ${values.seed}`)
if (values.json) writeFileSync(values.json, JSON.stringify({ report, violations }, null, 2))
process.exit(violations.length ? 1 : 0)
