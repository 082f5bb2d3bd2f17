/**
 * Documentation a reader can follow: every `*.md` file a source or infra file cites exists in the repository (a
 * comment that says "see QUEUE.md §6" sends the reader to a file they cannot open), and every relative link in the
 * repository's Markdown files points at a file, and a heading, that exists.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, extname, join, relative, sep } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..', '..')

/** Never part of the repository's own text: dependencies, build output, local data. */
const SKIPPED_DIRS = new Set(['node_modules', '.git', 'dist', 'build', 'data', '.wrangler', 'coverage', 'artifacts'])
/** Files whose comments can cite documents: code, SQL, and the infra files (units, nginx, wrangler, pm2, .env). */
const SOURCE_EXTENSIONS = new Set(['.ts', '.tsx', '.js', '.cjs', '.mjs', '.sql', '.service', '.conf', '.toml', '.example', '.sh', '.yml', '.yaml'])
/** The install folder the systemd units assume: `file:///opt/wa-gateway/infra/README.md` is the repository's file. */
const INSTALL_DIR = '/opt/wa-gateway/'

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIPPED_DIRS.has(name)) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path, out)
    else out.push(path)
  }
  return out
}

const files = walk(ROOT)
const rel = (path: string) => relative(ROOT, path).split(sep).join('/')
const sourceFiles = files.filter((f) => {
  const r = rel(f)
  // package-lock.json is generated; this file names missing documents on purpose, as examples for the matcher.
  if (r === 'package-lock.json' || r === 'tests/packaging/docs-links.test.ts') return false
  return SOURCE_EXTENSIONS.has(extname(f)) || r === 'package.json' || r.startsWith('.ci/')
})
const markdownFiles = files.filter((f) => extname(f) === '.md')

/** The `*.md` paths a text cites (URLs left out: they point outside the repository). */
export function markdownCitations(text: string): { cite: string; line: number }[] {
  const out: { cite: string; line: number }[] = []
  text.split('\n').forEach((lineText, i) => {
    const withoutUrls = lineText.replace(/\bhttps?:\/\/\S+/g, ' ')
    for (const m of withoutUrls.matchAll(/(?<![\w./-])((?:file:\/\/)?[\w./-]*[\w-]\.md)(?![\w-]|\.\w)/g)) out.push({ cite: m[1]!, line: i + 1 })
  })
  return out
}

/** Where a cited path may live: from the repository root, or next to the citing file. */
function resolves(cite: string, citingFile: string): boolean {
  let path = cite.replace(/^file:\/\//, '')
  if (path.startsWith(INSTALL_DIR)) path = path.slice(INSTALL_DIR.length)
  if (path.startsWith('/')) return false
  return existsSync(join(ROOT, path)) || existsSync(join(dirname(citingFile), path))
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
export function headingAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\- _]/gu, '').replace(/ /g, '-')
}

function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>()
  let fenced = false
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced
    const m = !fenced && /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line)
    if (m) anchors.add(headingAnchor(m[1]!))
  }
  return anchors
}

/** Relative link targets of a Markdown text, outside code blocks: `[text](target)`. */
function markdownLinks(markdown: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = []
  let fenced = false
  markdown.split('\n').forEach((line, i) => {
    if (/^\s*```/.test(line)) fenced = !fenced
    if (fenced) return
    for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!/^[a-z][a-z0-9+.-]*:/i.test(m[1]!)) out.push({ target: m[1]!, line: i + 1 })
    }
  })
  return out
}

describe('documentation links', () => {
  it('finds citations the way a reader would (the check below cannot pass by finding nothing)', () => {
    expect(markdownCitations('// see QUEUE.md §6.3 and db/README.md, "Leases and fencing"').map((c) => c.cite)).toEqual(['QUEUE.md', 'db/README.md'])
    expect(markdownCitations('Documentation=file:///opt/wa-gateway/infra/DEPLOY.md').map((c) => c.cite)).toEqual(['file:///opt/wa-gateway/infra/DEPLOY.md'])
    expect(markdownCitations('https://github.com/x/y/blob/main/CHANGELOG.md and a.mdx and readme.md.bak')).toEqual([])
    expect(resolves('file:///opt/wa-gateway/infra/DEPLOY.md', join(ROOT, 'infra/systemd/x.service'))).toBe(false)
    expect(resolves('README.md', join(ROOT, 'tests/support/wa-loopback/server.ts'))).toBe(true)
    expect(sourceFiles.map(rel)).toEqual(expect.arrayContaining(['start.ts', 'infra/systemd/wa-gateway.service', 'db/migrations/mysql/0001_init.sql']))
    expect(headingAnchor('API on Cloudflare Workers, runner on a VPS')).toBe('api-on-cloudflare-workers-runner-on-a-vps')
  })

  it('no source or infra file cites a *.md file that is not in the repository', () => {
    const missing: string[] = []
    for (const file of sourceFiles) {
      for (const { cite, line } of markdownCitations(readFileSync(file, 'utf8'))) {
        if (!resolves(cite, file)) missing.push(`${rel(file)}:${line} cites ${cite}`)
      }
    }
    expect(missing, 'cite a README in the repository (e.g. "see db/README.md, Leases and fencing") or say the reason itself').toEqual([])
  })

  it('every relative link in the Markdown files points at a file, and a heading, that exists', () => {
    const broken: string[] = []
    for (const file of markdownFiles) {
      const text = readFileSync(file, 'utf8')
      for (const { target, line } of markdownLinks(text)) {
        const [pathPart, anchor] = target.split('#') as [string, string | undefined]
        const path = pathPart === '' ? file : join(dirname(file), decodeURIComponent(pathPart))
        if (!existsSync(path)) {
          broken.push(`${rel(file)}:${line} links to ${target}: no such file`)
          continue
        }
        if (anchor && extname(path) === '.md' && !anchorsOf(readFileSync(path, 'utf8')).has(anchor.toLowerCase())) {
          broken.push(`${rel(file)}:${line} links to ${target}: no such heading`)
        }
      }
    }
    expect(broken).toEqual([])
  })
})
