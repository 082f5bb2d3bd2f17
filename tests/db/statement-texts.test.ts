/**
 * Every statement in db/queries/ is written out in both dialects, and nothing rewrites it at run time (db/README.md,
 * The two dialects). This reads each `each(mysql, postgres)` pair from the source, and each one-dialect text (a
 * constant named `…_MYSQL` or `…_PG`), and checks the texts against their engine and against each other, so a text
 * written for the wrong engine fails here, not only on the engine that runs it.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const QUERIES = fileURLToPath(new URL('../../db/queries/', import.meta.url))

interface Written {
  where: string
  mysql?: string
  postgres?: string
}

/** The text outside string literals and quoted identifiers, where placeholders and functions are. */
function outsideQuotes(sql: string): string {
  return sql.replace(/'(?:[^']|'')*'|"[^"]*"|`[^`]*`/g, "''")
}

function mysqlProblems(sql: string): string[] {
  const code = outsideQuotes(sql)
  const out: string[] = []
  if (/\$\d/.test(code)) out.push('a $n placeholder in the MySQL text')
  if (/\bnow\(\s*\)/i.test(code)) out.push('now() in the MySQL text (NOW(6) keeps the microseconds)')
  if (/::/.test(code)) out.push('a :: cast in the MySQL text')
  return out
}

function postgresProblems(sql: string): string[] {
  const code = outsideQuotes(sql)
  const out: string[] = []
  if (code.includes('?')) out.push('a ? placeholder in the PostgreSQL text')
  if (/\bNOW\(6\)/i.test(code)) out.push('NOW(6) in the PostgreSQL text')
  if (/FORCE INDEX|LOCK IN SHARE MODE/i.test(code)) out.push('MySQL-only syntax in the PostgreSQL text')
  const numbers = [...code.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]))
  const used = [...new Set(numbers)].sort((a, b) => a - b)
  if (used.some((n, i) => n !== i + 1)) out.push(`PostgreSQL placeholders skip a number: ${used.map((n) => `$${n}`).join(', ')}`)
  return out
}

/** What is wrong with a pair: each text on its own, then their placeholders against each other. */
function pairProblems(mysql: string, postgres: string): string[] {
  const out = [...mysqlProblems(mysql), ...postgresProblems(postgres)]
  const questionMarks = (outsideQuotes(mysql).match(/\?/g) ?? []).length
  const dollars = (outsideQuotes(postgres).match(/\$\d+/g) ?? []).length
  // A PostgreSQL text may use $n twice where MySQL binds the value twice, so the uses are counted, not the numbers.
  if (questionMarks !== dollars) out.push(`${questionMarks} ? in the MySQL text, ${dollars} $n in the PostgreSQL text`)
  return out
}

/** The value of a template or string argument; `${NAME}` must name a string constant of the same file. */
function literalText(node: ts.Expression, constants: Map<string, ts.Expression>, where: string): string {
  if (ts.isNoSubstitutionTemplateLiteral(node) || ts.isStringLiteral(node)) return node.text
  if (ts.isTemplateExpression(node)) {
    let text = node.head.text
    for (const span of node.templateSpans) {
      const name = ts.isIdentifier(span.expression) ? span.expression.text : null
      const value = name === null ? undefined : constants.get(name)
      if (!value) throw new Error(`${where}: \${${span.expression.getText()}} is not a constant of the file`)
      text += literalText(value, constants, where) + span.literal.text
    }
    return text
  }
  throw new Error(`${where}: a statement text is not written literally (${node.getText()})`)
}

function statementsOf(file: string): Written[] {
  const source = ts.createSourceFile(file, readFileSync(join(QUERIES, file), 'utf8'), ts.ScriptTarget.Latest, true)
  const constants = new Map<string, ts.Expression>()
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue
    for (const d of statement.declarationList.declarations) {
      if (ts.isIdentifier(d.name) && d.initializer) constants.set(d.name.text, d.initializer)
    }
  }
  const found: Written[] = []
  const line = (node: ts.Node) => `${file}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`
  for (const [name, value] of constants) {
    const where = `${file} ${name}`
    if (/_MYSQL$/.test(name)) found.push({ where, mysql: literalText(value, constants, where) })
    if (/_(PG|POSTGRES)$/.test(name)) found.push({ where, postgres: literalText(value, constants, where) })
  }
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'each') {
      const where = line(node)
      const [mysql, postgres] = node.arguments
      if (!mysql || !postgres || node.arguments.length !== 2) throw new Error(`${where}: each() takes the two texts`)
      found.push({ where, mysql: literalText(mysql, constants, where), postgres: literalText(postgres, constants, where) })
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

const FILES = readdirSync(QUERIES).filter((f) => f.endsWith('.ts'))
const WRITTEN = FILES.flatMap(statementsOf)

describe('statement texts in db/queries', () => {
  it('finds the statements of every query file', () => {
    expect(WRITTEN.length).toBeGreaterThan(120)
    const files = new Set(WRITTEN.map((w) => w.where.split(/[: ]/)[0]))
    expect(FILES.filter((f) => !files.has(f))).toEqual([])
  })

  it('writes each text for its engine, with placeholders that agree', () => {
    const wrong = WRITTEN.flatMap((w) => {
      const problems = w.mysql !== undefined && w.postgres !== undefined
        ? pairProblems(w.mysql, w.postgres)
        : w.mysql !== undefined ? mysqlProblems(w.mysql) : postgresProblems(w.postgres!)
      return problems.map((p) => `${w.where}: ${p}`)
    })
    expect(wrong).toEqual([])
  })

  it('catches a text written for the wrong engine', () => {
    expect(pairProblems('SELECT 1 FROM t WHERE a = ? AND b = NOW(6)', 'SELECT 1 FROM t WHERE a = $1 AND b = now()')).toEqual([])
    expect(pairProblems("SELECT '?' FROM t WHERE a = ?", "SELECT '?' FROM t WHERE a = $1")).toEqual([])
    expect(pairProblems('UPDATE t SET a = ?, b = ? WHERE c = ?', 'UPDATE t SET a = $1, b = $1 WHERE c = $2')).toEqual([])
    expect(pairProblems('SELECT ? FROM t', 'SELECT ? FROM t')).toEqual(['a ? placeholder in the PostgreSQL text', '1 ? in the MySQL text, 0 $n in the PostgreSQL text'])
    expect(pairProblems('SELECT $1 FROM t', 'SELECT $1 FROM t')).toEqual(['a $n placeholder in the MySQL text', '0 ? in the MySQL text, 1 $n in the PostgreSQL text'])
    expect(pairProblems('SELECT NOW(6)', 'SELECT NOW(6)')).toEqual(['NOW(6) in the PostgreSQL text'])
    expect(pairProblems('SELECT now()', 'SELECT now()')).toEqual(['now() in the MySQL text (NOW(6) keeps the microseconds)'])
    expect(pairProblems('SELECT ? , ?', 'SELECT $1, $3')).toEqual(['PostgreSQL placeholders skip a number: $1, $3'])
    expect(pairProblems('SELECT ? , ?', 'SELECT $1')).toEqual(['2 ? in the MySQL text, 1 $n in the PostgreSQL text'])
    expect(pairProblems('SELECT 1 FROM t FORCE INDEX (PRIMARY)', 'SELECT 1 FROM t FORCE INDEX (PRIMARY)')).toEqual(['MySQL-only syntax in the PostgreSQL text'])
  })
})
