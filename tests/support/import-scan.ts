/**
 * The module specifiers a TypeScript/JavaScript source imports: static `import … from`, side-effect `import '…'`,
 * `export … from`, dynamic `import('…')` and `require('…')`, type-only ones included (they are dependencies too).
 * A small tokenizer, not a regular expression over the text, so comments, strings, template literals and regular
 * expressions that merely mention `import` are not taken for imports. A dynamic import whose argument is not a plain
 * string cannot be checked and is reported as such.
 */

export interface ImportFound {
  specifier: string
  kind: 'static' | 'export-from' | 'dynamic' | 'require'
  line: number
}

export interface ScanResult {
  imports: ImportFound[]
  /** Lines of `import(…)` calls whose argument is not a string literal. */
  uncheckable: number[]
}

type Token = { type: 'word' | 'string' | 'punct'; value: string; line: number }

/** Characters after which a `/` starts a regular expression rather than a division. */
const REGEX_AFTER = new Set(['(', ',', '=', ':', '[', '!', '&', '|', '?', '{', '}', ';', '+', '-', '*', '%', '<', '>', '~', '^'])
const REGEX_AFTER_WORDS = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await'])

function tokenize(source: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  let line = 1
  /** Brace depth at which each open template literal's `${` was entered. */
  const templates: number[] = []
  let depth = 0
  const last = () => tokens[tokens.length - 1]
  const regexAllowed = () => {
    const t = last()
    if (!t) return true
    if (t.type === 'punct') return REGEX_AFTER.has(t.value)
    if (t.type === 'word') return REGEX_AFTER_WORDS.has(t.value)
    return false
  }
  const readTemplate = (): void => {
    // At the character after "`" or after the "}" closing a substitution.
    while (i < source.length) {
      const c = source[i]!
      if (c === '\\') {
        i += 2
        continue
      }
      if (c === '\n') line++
      if (c === '`') {
        i++
        tokens.push({ type: 'string', value: '`template`', line })
        return
      }
      if (c === '$' && source[i + 1] === '{') {
        i += 2
        templates.push(depth)
        depth++
        tokens.push({ type: 'punct', value: '(', line })
        return
      }
      i++
    }
  }
  while (i < source.length) {
    const c = source[i]!
    if (c === '\n') {
      line++
      i++
    } else if (/\s/.test(c)) {
      i++
    } else if (c === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++
    } else if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2)
      const stop = end < 0 ? source.length : end + 2
      for (let k = i; k < stop; k++) if (source[k] === '\n') line++
      i = stop
    } else if (c === '"' || c === "'") {
      let value = ''
      i++
      while (i < source.length && source[i] !== c) {
        if (source[i] === '\\') {
          value += source[i + 1] ?? ''
          i += 2
          continue
        }
        if (source[i] === '\n') break
        value += source[i]
        i++
      }
      i++
      tokens.push({ type: 'string', value, line })
    } else if (c === '`') {
      i++
      readTemplate()
    } else if (c === '/' && regexAllowed()) {
      let inClass = false
      i++
      while (i < source.length && source[i] !== '\n') {
        const r = source[i]!
        if (r === '\\') {
          i += 2
          continue
        }
        if (r === '[') inClass = true
        else if (r === ']') inClass = false
        else if (r === '/' && !inClass) break
        i++
      }
      i++
      while (i < source.length && /[a-z]/i.test(source[i]!)) i++
      tokens.push({ type: 'string', value: '/regex/', line })
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1
      while (j < source.length && /[\w$]/.test(source[j]!)) j++
      tokens.push({ type: 'word', value: source.slice(i, j), line })
      i = j
    } else if (/[0-9]/.test(c)) {
      let j = i + 1
      while (j < source.length && /[\w.]/.test(source[j]!)) j++
      tokens.push({ type: 'word', value: source.slice(i, j), line })
      i = j
    } else {
      if (c === '{') depth++
      if (c === '}') {
        depth--
        if (templates.length && templates[templates.length - 1] === depth) {
          templates.pop()
          tokens.push({ type: 'punct', value: ')', line })
          i++
          readTemplate()
          continue
        }
      }
      tokens.push({ type: 'punct', value: c, line })
      i++
    }
  }
  return tokens
}

/**
 * Lists what `source` imports.
 * @example scanImports("import { x } from './y.js'").imports // [{ specifier: './y.js', kind: 'static', line: 1 }]
 */
export function scanImports(source: string): ScanResult {
  const tokens = tokenize(source)
  const imports: ImportFound[] = []
  const uncheckable: number[] = []
  /** From `start`, the string after the first `from` before a statement end, or null. */
  const fromClause = (start: number): Token | null => {
    for (let k = start; k < tokens.length; k++) {
      const t = tokens[k]!
      if (t.type === 'punct' && t.value === ';') return null
      if (t.type === 'word' && t.value === 'from' && tokens[k + 1]?.type === 'string') return tokens[k + 1]!
      // `export { a }` with no `from`: a local export, the clause ends at its brace.
      if (t.type === 'punct' && t.value === '}' && !(tokens[k + 1]?.type === 'word' && tokens[k + 1]!.value === 'from')) return null
      // A clause is words, braces, commas and `*`; anything else ends it.
      if (t.type === 'punct' && !['{', '}', ',', '*'].includes(t.value)) return null
      if (t.type === 'string') return null
    }
    return null
  }
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!
    const prev = tokens[k - 1]
    // `x.import`, `import.meta`: not an import.
    if (t.type !== 'word' || (prev?.type === 'punct' && prev.value === '.')) continue
    const next = tokens[k + 1]
    if (t.value === 'import') {
      if (next?.type === 'punct' && next.value === '.') continue
      if (next?.type === 'punct' && next.value === '(') {
        const arg = tokens[k + 2]
        const close = tokens[k + 3]
        if (arg?.type === 'string' && !arg.value.startsWith('`') && close?.type === 'punct' && (close.value === ')' || close.value === ',')) {
          imports.push({ specifier: arg.value, kind: 'dynamic', line: t.line })
        } else {
          uncheckable.push(t.line)
        }
        continue
      }
      if (next?.type === 'string') {
        imports.push({ specifier: next.value, kind: 'static', line: t.line })
        continue
      }
      const from = fromClause(k + 1)
      if (from) imports.push({ specifier: from.value, kind: 'static', line: t.line })
    } else if (t.value === 'export') {
      const from = fromClause(k + 1)
      if (from) imports.push({ specifier: from.value, kind: 'export-from', line: t.line })
    } else if (t.value === 'require' && next?.type === 'punct' && next.value === '(' && tokens[k + 2]?.type === 'string') {
      imports.push({ specifier: tokens[k + 2]!.value, kind: 'require', line: t.line })
    }
  }
  return { imports, uncheckable }
}
