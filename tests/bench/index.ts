/**
 * `npm run bench -- <name> [args…]`: runs tests/bench/<name>.ts, whose `run(args)` prints its
 * figures. Benchmarks are scripts, never timed tests: each measures a ratio side by side in one run.
 */
const [name, ...args] = process.argv.slice(2)
const available = ['queue', 'api', 'sessions', 'runner', 'start', 'scale']
if (!name || !/^[a-z-]+$/.test(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [options]`)
  process.exit(2)
}
try {
  const mod = (await import(`./${name}.ts`)) as { run: (args: string[]) => Promise<void> }
  await mod.run(args)
  process.exit(0)
} catch (err) {
  if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String(err).includes(`${name}.ts`)) {
    console.error(`no benchmark named "${name}"; available: ${available.join(', ')}`)
    process.exit(2)
  }
  throw err
}
