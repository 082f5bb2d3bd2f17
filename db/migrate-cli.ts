import { describeDbConfig, openDb, parseDbConfig } from './index.js'
import { migrate } from './migrate.js'

// `npm run migrate`: applies pending migrations to the database named by DATABASE_URL.
const config = parseDbConfig(process.env)
const db = await openDb(config, { poolSize: 1 })
try {
  const applied = await migrate(db, { log: (m) => console.log(m) })
  console.log(`${describeDbConfig(config)}: ${applied.length ? `applied ${applied.length} migration(s)` : 'schema is up to date'}`)
} finally {
  await db.close()
}
