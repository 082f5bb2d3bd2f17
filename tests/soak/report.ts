import type { ApiWindowStats, SoakReport } from './harness.js'

/** Every rule the soak must keep; an empty list means it passed. */
export function checkReport(r: SoakReport): string[] {
  const v: string[] = []
  if (!r.drained) v.push(`the queue did not drain within ${r.options.drainTimeoutMs / 1000} s (${r.status.pendingOther} pending, ${r.status.sending} sending outside paused sessions)`)
  if (r.unaccounted !== 0) v.push(`unaccounted messages: ${r.unaccounted} (accepted ${r.accepted} ≠ sent ${r.status.sent} + failed ${r.status.failed} + opted_out ${r.status.opted_out} + paused ${r.status.pendingPaused})`)
  if (r.lostAccepted !== 0) v.push(`${r.lostAccepted} accepted message(s) missing from the table`)
  if (r.sentNotDelivered !== 0) v.push(`${r.sentNotDelivered} message(s) marked sent that no contact received`)
  if (r.differentIdDeliveries.length) v.push(`${r.differentIdDeliveries.length} message(s) delivered under different WhatsApp ids: ${JSON.stringify(r.differentIdDeliveries.slice(0, 5))}`)
  if (r.unknownDeliveries) v.push(`${r.unknownDeliveries} received copies carry an id of no message (and are no consent reply): ${JSON.stringify(r.unknownDeliveryDetails.slice(0, 3))}`)
  // A copy from a session to its own number is Baileys asking the phone for a message it could not decrypt (a
  // placeholder resend); it counts above as an unknown id. A STOP must never be lost (finding C, tests/soak/README.md).
  if (r.stopsNotRecorded.length) v.push(`${r.stopsNotRecorded.length} STOP repl${r.stopsNotRecorded.length === 1 ? 'y was' : 'ies were'} never recorded as opt-outs: ${r.stopsNotRecorded.slice(0, 5).join(', ')}`)
  if (r.deliveredAfterStop) v.push(`${r.deliveredAfterStop} message(s) claimed after the contact's STOP were delivered`)
  if (r.leaseOverlaps.length) v.push(`two runners held one session: ${r.leaseOverlaps.slice(0, 5).join('; ')}`)
  if (r.epochAnomalies.length) v.push(`lease epoch anomalies: ${r.epochAnomalies.slice(0, 5).join('; ')}`)
  if (r.gaps.belowMinDb) v.push(`${r.gaps.belowMinDb} start-to-start gap(s) (claimed_at) below the ${r.options.throttleMinMs} ms minimum; smallest ${r.gaps.minDbMs} ms`)
  if (r.gaps.belowMinWire) v.push(`${r.gaps.belowMinWire} gap(s) between copies received from one number below ${r.options.throttleMinMs} − ${r.gaps.wireToleranceMs} ms; smallest ${r.gaps.minWireMs} ms: ${r.wireGapDetails.slice(0, 3).map((g) => `${g.from} ${g.gapMs} ms: ${g.first} → ${g.second}`).join('; ')}`)
  const out = r.api['db-outage']
  if (r.options.outage) {
    if (out.s5xxOther) v.push(`the API answered ${out.s5xxOther} non-503 5xx during the database outage`)
    if (out.timeouts) v.push(`the API hung (no answer within 10 s) ${out.timeouts} time(s) during the database outage`)
    if (out.attempts > 0 && out.s503 === 0) v.push('no 503 was seen during the database outage')
    if (r.outageRecoveryMs === null) v.push('the API never answered 200 after the database came back')
  }
  for (const [w, s] of Object.entries(r.api)) if (w !== 'db-outage' && s.s5xxOther) v.push(`${s.s5xxOther} non-503 5xx answers in the ${w} window`)
  if (r.phantomRows) v.push(`${r.phantomRows} row(s) exist for requests the API answered with an error ("nothing was written")`)
  if (r.duplicateRows) v.push(`${r.duplicateRows} duplicate row(s) for one submission`)
  if (r.apiUnhandledErrors) v.push(`the API logged ${r.apiUnhandledErrors} unhandled error(s)`)
  return v
}

const pct = (n: number, d: number) => (d ? `${((100 * n) / d).toFixed(1)} %` : '–')

function apiLine(name: string, s: ApiWindowStats): string {
  const errors = s.s503 + s.s5xxOther + s.timeouts + s.networkErrors + s.s4xx
  return `  ${name.padEnd(13)} ${String(s.attempts).padStart(7)} ${String(s.ok).padStart(7)} ${String(s.s503).padStart(6)} ${String(s.s5xxOther).padStart(6)} ${String(s.s4xx).padStart(5)} ${String(s.timeouts).padStart(6)} ${String(s.networkErrors).padStart(5)} ${String(s.maxMs).padStart(7)}  ${pct(errors, s.attempts)}`
}

export function formatReport(r: SoakReport, violations = checkReport(r)): string {
  const o = r.options
  const L: string[] = []
  L.push(`=== soak: ${r.engine} ${r.serverVersion} · ${o.runners} runners · ${o.sessions} sessions · ${o.messages} messages over ${o.minutes} min · throttle ${o.throttleMinMs}–${o.throttleMaxMs} ms · lease ${o.leaseTtlSeconds} s`)
  L.push(`started ${r.startedAt}; submission ${r.submitSeconds.toFixed(0)} s, drain ${r.drainSeconds.toFixed(0)} s (${r.drained ? 'drained' : 'NOT drained'})`)
  L.push('')
  L.push('accounting')
  L.push(`  submitted ${r.submitted}, accepted ${r.accepted}`)
  L.push(`  sent ${r.status.sent} + failed ${r.status.failed} + opted_out ${r.status.opted_out} + pending (paused session) ${r.status.pendingPaused} = ${r.status.sent + r.status.failed + r.status.opted_out + r.status.pendingPaused}`)
  L.push(`  unaccounted ${r.unaccounted} (pending elsewhere ${r.status.pendingOther}, sending ${r.status.sending}); lost ${r.lostAccepted}; sent but never received ${r.sentNotDelivered}`)
  L.push(`  failed by reason: ${Object.entries(r.failedReasons).map(([k, n]) => `${n}× ${k}`).join('; ') || '–'}`)
  L.push(`  rows for refused requests ${r.phantomRows}; duplicate rows ${r.duplicateRows}; paused sessions ${r.pausedSessions.join(', ') || '–'}`)
  L.push('')
  L.push('deliveries (what the loopback contacts decrypted)')
  L.push(`  copies received ${r.deliveries} (consent replies ${r.consentReplies}); unknown ids ${r.unknownDeliveries}; delivered after STOP ${r.deliveredAfterStop}`)
  L.push(`  duplicates (same WhatsApp id received again): ${r.duplicateDeliveries.length}${r.duplicateDeliveries.length ? ` → ${r.duplicateDeliveries.slice(0, 20).map((d) => `#${d.messageId ?? '?'} ${d.waId}×${d.copies}`).join(', ')}` : ''}`)
  L.push(`  one message under two different ids: ${r.differentIdDeliveries.length}`)
  L.push('')
  L.push('leases and throttle')
  L.push(`  overlapping holdings (runner logs): ${r.leaseOverlaps.length}; epoch anomalies (lease samples): ${r.epochAnomalies.length}`)
  L.push(`  start-to-start per session: smallest ${r.gaps.minDbMs ?? '–'} ms by claimed_at (${r.gaps.belowMinDb} below ${o.throttleMinMs} ms), smallest ${r.gaps.minWireMs ?? '–'} ms at the receiver (${r.gaps.belowMinWire} below ${o.throttleMinMs - r.gaps.wireToleranceMs} ms), ${r.gaps.sessionsChecked} sessions`)
  L.push('')
  L.push('faults injected')
  L.push(`  SIGKILL ${r.faults.sigkill} · database outage ${r.faults['db-down']}${o.outage ? ` (${o.outage.durationMs / 1000} s, ${o.outage.mode === 'real' ? 'real server stopped' : 'TCP proxy cut'})` : ''} · 428 ${r.faults['close-428']} · 515 ${r.faults['restart-515']} · lost acks ${r.faults['drop-acks']} · 463 ${r.faults['nack-463']} · STOP replies ${r.faults['stop-reply']}`)
  L.push('')
  L.push('API answers by window   attempts      ok    503  5xx*   4xx  hangs  conn   max ms  error rate')
  for (const [w, s] of Object.entries(r.api)) L.push(apiLine(w, s))
  L.push(`  (* 5xx other than 503; hangs = no answer in 10 s) recovery after the outage: ${r.outageRecoveryMs === null ? '–' : `${(r.outageRecoveryMs / 1000).toFixed(1)} s to the first 200`}; API unhandled errors ${r.apiUnhandledErrors}`)
  L.push('')
  L.push('runner memory (RSS MB)   start    end   peak  end of life')
  for (const m of r.memory) L.push(`  ${m.runner.slice(0, 22).padEnd(22)} ${String(m.startMb ?? '–').padStart(6)} ${String(m.endMb ?? '–').padStart(6)} ${String(m.peakMb ?? '–').padStart(6)}  ${m.end}`)
  if (r.notes.length) {
    L.push('')
    L.push('notes')
    for (const n of r.notes) L.push(`  - ${n}`)
  }
  L.push('')
  L.push(violations.length ? `RESULT: FAIL (${violations.length})\n${violations.map((x) => `  ✗ ${x}`).join('\n')}` : 'RESULT: PASS — zero unaccounted, no different-id duplicates, no overlapping leases, no gap below the minimum, 503 during the outage')
  return L.join('\n')
}
