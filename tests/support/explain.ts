/** What the EXPLAIN tests (tests/db/explain*.test.ts) read from each engine's plans. */
import type { Row } from '../../db/driver.js'

/** One row of MariaDB's `EXPLAIN`: the table, how it is read, the index used, and notes such as "Using filesort". */
export interface MysqlExplainRow extends Row {
  table: string | null
  type: string | null
  key: string | null
  Extra: string | null
}

/** One node of PostgreSQL's `EXPLAIN (FORMAT JSON)` plan tree. */
export interface PgPlanNode {
  'Node Type': string
  'Index Name'?: string
  'Relation Name'?: string
  'Index Cond'?: string
  Plans?: PgPlanNode[]
}

/** Every node of a plan tree, the root first. */
export const flatten = (node: PgPlanNode): PgPlanNode[] => [node, ...(node.Plans ?? []).flatMap(flatten)]
