import type { DbConfig } from './config.js'
import type { Db } from './driver.js'

export type { DbConfig } from './config.js'
export { parseDbConfig, describeDbConfig, ConfigError } from './config.js'
export * from './driver.js'

/**
 * Opens the configured engine (Node only; the Workers entry opens its driver directly so that
 * PGlite never enters the bundle). Drivers are imported lazily so each process loads just one.
 */
export async function openDb(
  config: DbConfig,
  options: { poolSize?: number; log?: { warn(fields: object, msg: string): void } } = {},
): Promise<Db> {
  switch (config.engine) {
    case 'mysql': {
      const { openMysql } = await import('./drivers/mysql.js')
      return openMysql({ url: config.url, connectionLimit: options.poolSize })
    }
    case 'postgres': {
      const { openPostgres } = await import('./drivers/postgres.js')
      return openPostgres({ url: config.url, max: options.poolSize })
    }
    case 'pglite': {
      const { openPglite } = await import('./drivers/pglite.js')
      return openPglite({
        dataDir: config.dataDir,
        onLooseDataDir: ({ dir, was }) =>
          options.log?.warn({ dir, was, now: '700' }, 'the data directory was readable by other users; it is now private to this user (0700)'),
      })
    }
  }
}
