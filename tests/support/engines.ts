import type { Engine } from '../../db/driver.js'

/** Where the test suite finds the server engines (override for other versions). */
export const TEST_MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

export const ALL_ENGINES: readonly Engine[] = ['pglite', 'postgres', 'mysql']

/** `TEST_ENGINES=pglite,mysql` narrows a local run; CI runs all three. */
export function selectedEngines(): Engine[] {
  const wanted = process.env.TEST_ENGINES?.split(',').map((s) => s.trim()).filter(Boolean)
  return ALL_ENGINES.filter((e) => !wanted || wanted.includes(e))
}

export const isCI = process.env.CI === 'true' || process.env.CI === '1'
