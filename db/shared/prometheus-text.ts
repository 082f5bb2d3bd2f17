/**
 * The Prometheus text exposition format (version 0.0.4), the part both metric endpoints write the same way: label
 * sets with escaped values. The API's `/metrics` and the runner's private port render their own series with it.
 * Under db/ only because api/ and runner/ never import each other; web-standard, so the Workers bundle carries it.
 */

export type Labels = Record<string, string>

/** A label value as the format quotes it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/**
 * `{name="value",…}`, or nothing for no labels.
 * @example `wa_gateway_runner_sends_total${labelSet({ outcome: 'acked' })} 3`
 */
export function labelSet(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`)
  return parts.length ? `{${parts.join(',')}}` : ''
}
