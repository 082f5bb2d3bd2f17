import { SEND_KINDS } from './views/send.js'

/**
 * The dashboard's stylesheet and its scripts, as string constants: there is no build step for the Node app. Served
 * from `/dashboard/assets/…` (paths and headers in `asset-files.ts`) so the Content Security Policy can forbid inline
 * code. The Workers entry does not import this file: `npm run build:worker` writes these texts, as the Node app
 * serves them, into the worker's static assets, and the worker serves them from there.
 */
import { DASHBOARD_ASSETS, type DashboardAsset, type DashboardAssetSource } from './asset-files.js'

/**
 * The Send form shows only the fields of the chosen kind: each group names its kinds in `data-kinds`, and the checked
 * radio reveals them, without script. A browser without `:has` shows every group (the server reads only the chosen kind's).
 */
const SEND_KIND_RULES = `@supports selector(:has(*)) {
  .send-form [data-kinds] { display: none; }
  ${SEND_KINDS.map((k) => `.send-form:has(#kind-${k}:checked) [data-kinds~=${k}]`).join(',\n  ')} { display: revert; }
}`

export const STYLE_CSS = `
:root {
  --bg: #f5f6f8; --card: #fff; --text: #1c2430; --muted: #5b6675; --line: #d9dee5;
  --accent: #0b6e4f; --accent-text: #fff; --focus: #1d5fd6;
  --ok: #0b6e4f; --ok-bg: #ddf3e9; --warn: #8a5a00; --warn-bg: #fff1cc;
  --bad: #a61b1b; --bad-bg: #fde4e4; --info: #1d4f91; --info-bg: #e1ecfb;
  --idle: #4a5260; --idle-bg: #e8eaee;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans Arabic", Tahoma, sans-serif;
  font-size: 16px; line-height: 1.45; color: var(--text); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
a { color: var(--info); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, summary:focus-visible {
  outline: 3px solid var(--focus); outline-offset: 2px;
}
.skip { position: absolute; left: -9999px; top: 0; background: var(--card); padding: .5rem 1rem; z-index: 10; }
.skip:focus { left: .5rem; top: .5rem; }
header.top { background: #12372a; color: #fff; }
header.top .bar { max-width: 72rem; margin: 0 auto; padding: .5rem 1rem; display: flex; flex-wrap: wrap; align-items: center; gap: .25rem 1rem; }
header.top .brand { font-weight: 700; color: #fff; text-decoration: none; margin-right: auto; font-size: 1.1rem; }
header.top nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .25rem; }
header.top nav a { color: #e6f4ee; text-decoration: none; padding: .4rem .6rem; border-radius: .35rem; display: inline-block; }
header.top nav a[aria-current="page"] { background: #1f5a45; color: #fff; font-weight: 600; }
header.top nav a:hover { background: #1b4a3a; }
header.top form { margin: 0; }
header.top .link-button { background: transparent; border: 1px solid #7fb8a3; color: #e6f4ee; padding: .3rem .6rem; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: 1rem; margin-bottom: 1rem; }
.grid { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); }
.grid > .card, .sessions > .card { margin-bottom: 0; }
.muted { color: var(--muted); }
.flush { margin: 0; }
ul.flush { padding-inline-start: 1.2rem; }
.card-head { margin: 0 0 .35rem; display: flex; justify-content: space-between; align-items: center; gap: .5rem; }
.small { font-size: .875rem; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; word-break: break-all; }
.empty { background: var(--card); border: 1px dashed var(--line); border-radius: .5rem; padding: 1rem; color: var(--muted); }
.notice { border-radius: .5rem; padding: .75rem 1rem; margin-bottom: 1rem; border: 1px solid; }
.notice.ok { background: var(--ok-bg); border-color: #9fd8bf; color: #0a4d37; }
.notice.bad { background: var(--bad-bg); border-color: #f1a9a9; color: #7c1111; }
.notice.warn { background: var(--warn-bg); border-color: #f0cf7a; color: #5e3e00; }
.badge { display: inline-block; padding: .1rem .5rem; border-radius: 999px; font-size: .85rem; font-weight: 600; white-space: nowrap; }
.s-online, .s-sent, .s-delivered, .s-read, .s-yes { background: var(--ok-bg); color: var(--ok); }
.s-connecting, .s-pending, .s-sending, .s-delivering { background: var(--warn-bg); color: var(--warn); }
.s-offline, .s-paused, .s-cancelled, .s-revoked { background: var(--idle-bg); color: var(--idle); }
.s-failed, .s-no, .s-opted_out, .s-dead { background: var(--bad-bg); color: var(--bad); }
.s-read { background: var(--info-bg); color: var(--info); }
.stats { display: grid; gap: .75rem; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); margin: 0; }
.stats div { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: .75rem; }
.stats dt { color: var(--muted); font-size: .875rem; }
.stats dd { margin: 0; font-size: 1.6rem; font-weight: 700; }
.stats a { text-decoration: none; color: inherit; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: .5rem; }
th, td { text-align: start; padding: .5rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .85rem; color: var(--muted); font-weight: 600; background: #fafbfc; }
td.body { max-width: 22rem; overflow-wrap: anywhere; }
form.inline { display: inline; margin: 0; }
label { display: block; font-weight: 600; margin-bottom: .25rem; }
label.check { font-weight: 400; }
fieldset.field { border: 0; padding: 0; margin-inline: 0; }
.field { margin-bottom: .9rem; }
.field .hint { font-weight: 400; color: var(--muted); font-size: .875rem; }
.field .error { color: var(--bad); font-size: .9rem; margin: .25rem 0 0; font-weight: 600; }
input[type=text], input[type=password], input[type=search], input[type=tel], input[type=date], input[type=datetime-local], input[type=url], select, textarea {
  font: inherit; padding: .45rem .6rem; border: 1px solid #aab3bf; border-radius: .35rem; background: #fff; color: var(--text);
  width: 100%; max-width: 32rem;
}
input[aria-invalid=true], textarea[aria-invalid=true], select[aria-invalid=true] { border-color: var(--bad); box-shadow: 0 0 0 1px var(--bad); }
textarea { min-height: 7rem; resize: vertical; }
input[type=file] { font: inherit; max-width: 100%; }
button, .button { font: inherit; cursor: pointer; border-radius: .35rem; border: 1px solid var(--accent); background: var(--accent);
  color: var(--accent-text); padding: .45rem .9rem; text-decoration: none; display: inline-block; line-height: 1.3; }
button.secondary, .button.secondary { background: #fff; color: var(--accent); }
button.danger, .button.danger { background: var(--bad); border-color: var(--bad); color: #fff; }
button.small, .button.small { padding: .2rem .55rem; font-size: .875rem; }
.actions.flush-top { margin-top: 0; }
.actions select { width: auto; }
td .actions { flex-wrap: nowrap; }
.error-text { color: var(--bad); margin-top: .25rem; }
blockquote.message-body { margin: .5rem 0; padding: .5rem .75rem; border-inline-start: 3px solid var(--line); white-space: pre-wrap; overflow-wrap: anywhere; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin-top: .75rem; }
.filters { display: flex; flex-wrap: wrap; gap: .75rem; align-items: flex-end; }
.filters .field { margin: 0; flex: 1 1 9rem; }
.filters .field input, .filters .field select { max-width: none; }
.pager { display: flex; gap: 1rem; margin: 1rem 0; }
.sessions { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fill, minmax(18rem, 1fr)); }
.session h2 { margin: 0 0 .5rem; display: flex; justify-content: space-between; align-items: center; gap: .5rem; font-size: 1.1rem; }
.session dl { display: grid; grid-template-columns: auto 1fr; gap: .2rem .75rem; margin: 0 0 .5rem; }
.session dt { color: var(--muted); font-size: .875rem; }
.session dd { margin: 0; overflow-wrap: anywhere; }
.qr { text-align: center; margin: .5rem 0; }
.qr img { width: 100%; max-width: 264px; height: auto; image-rendering: pixelated; border: 1px solid var(--line); background: #fff; }
.qr .waiting { padding: 2rem 1rem; border: 1px dashed var(--line); border-radius: .5rem; color: var(--muted); }
.online-now { padding: 1rem; border-radius: .5rem; background: var(--ok-bg); color: var(--ok); font-weight: 700; text-align: center; }
.timeline { list-style: none; padding: 0; margin: 0; border-left: 3px solid var(--line); }
.timeline li { position: relative; padding: .25rem 0 .75rem 1rem; }
.timeline li::before { content: ""; position: absolute; left: -.5rem; top: .55rem; width: .7rem; height: .7rem; border-radius: 50%; background: var(--line); }
.timeline li.done::before { background: var(--ok); }
.timeline li.bad::before { background: var(--bad); }
.timeline li.todo { color: var(--muted); }
.detail-grid { display: grid; grid-template-columns: minmax(8rem, auto) 1fr; gap: .35rem 1rem; margin: 0; }
.detail-grid dt { color: var(--muted); }
.detail-grid dd { margin: 0; overflow-wrap: anywhere; }
.thumb { max-width: 16rem; max-height: 16rem; border: 1px solid var(--line); border-radius: .35rem; }
.signin { max-width: 26rem; margin: 3rem auto; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
fieldset.kinds legend { font-weight: 600; padding: 0; margin-bottom: .25rem; }
fieldset.kinds label { display: inline-block; margin: 0 .9rem .25rem 0; }
${SEND_KIND_RULES}
@media (max-width: 40rem) {
  main { padding: .75rem; }
  table.responsive, table.responsive tbody, table.responsive tr, table.responsive td { display: block; width: 100%; }
  table.responsive { border: 0; background: transparent; }
  table.responsive thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.responsive tr { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; margin-bottom: .75rem; padding: .25rem 0; }
  table.responsive td { border: 0; padding: .25rem .75rem; display: grid; grid-template-columns: 6.5rem 1fr; gap: .5rem; }
  table.responsive td::before { content: attr(data-label); color: var(--muted); font-size: .85rem; font-weight: 600; }
  td.body { max-width: none; }
  table.responsive td > .badge { justify-self: start; }
  .stats dd { font-size: 1.3rem; }
}
`

/**
 * Live refresh of the Sessions page: polls the JSON endpoint named in `data-live` every 1.5 s and
 * swaps each card's status, phone, last seen, detail and QR image in place. Without JavaScript the
 * page simply shows the state at load time.
 */
export const LIVE_JS = `
(function () {
  'use strict';
  var root = document.querySelector('[data-live]');
  if (!root) return;
  var url = root.getAttribute('data-live');
  var note = document.getElementById('live-note');
  var stopped = false;
  function text(card, field, value) {
    var el = card.querySelector('[data-field="' + field + '"]');
    if (el && el.textContent !== value) el.textContent = value;
  }
  function apply(data) {
    var seen = {};
    data.sessions.forEach(function (s) {
      seen[s.name] = true;
      var card = root.querySelector('[data-session="' + s.name + '"]');
      if (!card) { if (note) note.hidden = false; return; }
      var badge = card.querySelector('[data-field="status"]');
      if (badge) { badge.textContent = s.status_label; badge.className = 'badge s-' + s.status_class; }
      text(card, 'phone', s.phone_display);
      text(card, 'last_seen', s.last_seen_display);
      text(card, 'detail', s.detail || '—');
      text(card, 'pairing_code', s.pairing_code || '—');
      card.setAttribute('data-status', s.status);
      var qr = card.querySelector('[data-field="qr"]');
      if (!qr) return;
      var want = s.status === 'online' ? 'online' : (s.status === 'connecting' && s.qr_code ? 'qr' : (s.status === 'connecting' ? 'waiting' : 'none'));
      var have = qr.getAttribute('data-state');
      if (want === 'qr') {
        var img = qr.querySelector('img');
        if (!img) {
          qr.textContent = '';
          img = document.createElement('img');
          img.alt = 'QR code to link WhatsApp for session ' + s.name;
          img.width = 264; img.height = 264;
          qr.appendChild(img);
          var p = document.createElement('p');
          p.className = 'small muted';
          p.textContent = 'On the phone: WhatsApp \\u2192 Settings \\u2192 Linked devices \\u2192 Link a device. The code refreshes by itself.';
          qr.appendChild(p);
        }
        if (img.getAttribute('src') !== s.qr_code) img.setAttribute('src', s.qr_code);
      } else if (want !== have) {
        qr.textContent = '';
        var div = document.createElement('div');
        if (want === 'online') { div.className = 'online-now'; div.textContent = 'Online \\u2014 linked as ' + s.phone_display; }
        else if (want === 'waiting') { div.className = 'waiting'; div.textContent = 'Waiting for a QR code from the runner\\u2026'; }
        if (want !== 'none') qr.appendChild(div);
      }
      qr.setAttribute('data-state', want);
    });
    Array.prototype.forEach.call(root.querySelectorAll('[data-session]'), function (card) {
      if (!seen[card.getAttribute('data-session')] && note) note.hidden = false;
    });
  }
  function tick() {
    if (stopped) return;
    fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' }, cache: 'no-store' })
      .then(function (r) {
        if (r.status === 401) { stopped = true; window.location.reload(); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (data) { if (data) apply(data); })
      .catch(function () {})
      .then(function () { if (!stopped) setTimeout(tick, document.hidden ? 5000 : 1500); });
  }
  setTimeout(tick, 1500);
})();
`

/**
 * The Send form's "Send at": a datetime-local value has no zone, so this fills the hidden `utc_offset` with the
 * browser's offset for the picked moment (daylight saving included) and names the zone next to the field.
 * Without JavaScript the field stays "UTC", as the page then says, and the server reads it so.
 */
export const SEND_JS = `
(function () {
  'use strict';
  var input = document.getElementById('send_at');
  var offset = document.getElementById('utc_offset');
  var zone = document.getElementById('send_at-zone');
  if (!input || !offset) return;
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function update() {
    var picked = input.value ? new Date(input.value) : new Date();
    if (isNaN(picked.getTime())) { offset.value = ''; return; }
    var minutes = -picked.getTimezoneOffset();
    offset.value = String(minutes);
    if (zone) {
      var sign = minutes < 0 ? '\u2212' : '+';
      var name = '';
      try { name = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { name = ''; }
      zone.textContent = 'your time zone' + (name ? ' (' + name + ', ' : ' (') + 'UTC' + sign + pad(Math.floor(Math.abs(minutes) / 60)) + ':' + pad(Math.abs(minutes) % 60) + ')';
    }
  }
  input.addEventListener('input', update);
  input.addEventListener('change', update);
  if (input.form) input.form.addEventListener('submit', update);
  update();
})();
`

const TEXT: Record<DashboardAsset, string> = { style: STYLE_CSS, live: LIVE_JS, send: SEND_JS }

/** The Node app's dashboard assets: the texts above, with the headers `DASHBOARD_ASSETS` names. */
export const assetsFromCode: DashboardAssetSource = (asset) => (c) => c.body(TEXT[asset], 200, { ...DASHBOARD_ASSETS[asset].headers })
