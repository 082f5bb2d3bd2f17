// Lint: the rules a reviewer of this gateway cares about most — no promise may be dropped (a queue that loses a
// rejection loses a message), no unused code, and the folder boundaries that keep api/ and runner/ apart.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

/** An import restriction that names the rule it enforces, so a violation explains itself. */
const forbid = (group, message) => ({ group, message })

const BAILEYS = forbid(
  ['@whiskeysockets/baileys', '@whiskeysockets/baileys/*', 'libsignal', 'libsignal/*'],
  'Baileys and libsignal are used only under runner/whatsapp/ (see runner/README.md).',
)
const DRIVERS = forbid(
  ['mysql2', 'mysql2/*', 'postgres', '@electric-sql/pglite', '@electric-sql/pglite/*'],
  'Database drivers are imported only under db/drivers/: everything else uses the Db interface (db/driver.ts).',
)
const RUNNER = forbid(['**/runner/**', '**/runner'], 'api/ never imports runner/: they meet only in db/.')
const API = forbid(['**/api/**', '**/api'], 'runner/ never imports api/: they meet only in db/.')

/** no-restricted-imports for a set of files, with the given groups forbidden. */
function restrict(files, ignores, patterns) {
  return { files, ignores, rules: { 'no-restricted-imports': ['error', { patterns }] } }
}

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'build/', 'data/', 'coverage/', '.wrangler/', 'tests/artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A variable a callback reads before its single assignment (a server's handler) stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Tests read JSON answers and child-process output typed `any` on purpose, and stub async interfaces with
    // plain functions; the promise rules and the unused-code rule still apply to them.
    files: ['tests/**'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/require-await': 'off',
      // Tests pass methods to expect(), print values of any type into messages, and feed deliberately odd
      // literals (a number past 2^53, enums compared with raw wire values) to the code under test.
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      '@typescript-eslint/await-thenable': 'off',
      'no-loss-of-precision': 'off',
      'preserve-caught-error': 'off',
    },
  },
  { files: ['**/*.js', '**/*.cjs', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  {
    // Row values are `unknown` by the driver contract but always scalars (text, numbers, dates): String() is the
    // conversion meant, not an object printed by mistake.
    files: ['db/**'],
    rules: { '@typescript-eslint/no-base-to-string': 'off' },
  },
  { files: ['infra/**/*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly' } } },
  {
    files: ['infra/**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
    languageOptions: {
      globals: { module: 'writable', exports: 'writable', require: 'readonly', __dirname: 'readonly', process: 'readonly', Buffer: 'readonly' },
    },
  },
  restrict(['api/**'], [], [RUNNER, BAILEYS, DRIVERS]),
  restrict(['runner/**'], ['runner/whatsapp/**'], [API, BAILEYS, DRIVERS]),
  restrict(['runner/whatsapp/**'], [], [API, DRIVERS]),
  restrict(['db/**'], ['db/drivers/**'], [RUNNER, API, BAILEYS, DRIVERS]),
  restrict(['db/drivers/**'], [], [RUNNER, API, BAILEYS]),
)
