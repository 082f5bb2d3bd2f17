// pm2 process file for one VPS: `pm2 start infra/ecosystem.config.cjs` from the project folder.
//
//   wa-gateway       the runner (WhatsApp sockets, queue, maintenance schedule): `pm2 logs wa-gateway`
//   wa-gateway-api   the HTTP API (+ dashboard) on PORT (default 3000), behind nginx
//
// Both read the project's .env (Node's --env-file; see infra/.env.example) and run the compiled entries in
// dist/ (`npm run build` writes them; nothing compiles at run time). pm2 starts node itself
// (`interpreter: 'none'`) rather than through its fork wrapper, so each entry sees itself as the main module, exactly as under systemd or `npm run`.
// Logs are JSON lines (pino); pm2 adds nothing to them.
// Several runners on one machine: raise `instances` of wa-gateway (leases share the sessions), and leave
// RUNNER_METRICS_PORT unset or give each its own port (they would collide).
const path = require('node:path')

const root = path.join(__dirname, '..')
// The node that runs pm2 (an absolute path: `pm2 startup` services run with a minimal PATH).
const node = process.execPath
const entry = (script) => ['--env-file=.env', script]

module.exports = {
  apps: [
    {
      name: 'wa-gateway',
      cwd: root,
      script: node,
      args: entry('dist/runner/main.js'),
      interpreter: 'none',
      exec_mode: 'fork',
      instances: 1,
      autorestart: true,
      // Back off on repeated crashes (bad configuration, database down) instead of spinning.
      exp_backoff_restart_delay: 1000,
      // The runner finishes its in-flight send, closes sockets and releases leases within 10 s of SIGTERM.
      kill_timeout: 12000,
      max_memory_restart: '1G',
      merge_logs: true,
      env: { NODE_ENV: 'production' },
    },
    {
      name: 'wa-gateway-api',
      cwd: root,
      script: node,
      args: entry('dist/api/node.js'),
      interpreter: 'none',
      exec_mode: 'fork',
      instances: 1,
      autorestart: true,
      exp_backoff_restart_delay: 1000,
      // The API drains in-flight requests (10 s grace) and pending group commits before exiting.
      kill_timeout: 12000,
      max_memory_restart: '512M',
      merge_logs: true,
      env: { NODE_ENV: 'production' },
    },
  ],
}
