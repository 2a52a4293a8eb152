/**
 * Compiles packages/contracts/contracts/**.sol and writes the typed bindings to src/generated/.
 * Usage: `node packages/contracts/scripts/compile.ts` (or `npm run contracts:build`).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isBaseError } from '@verity/protocol'
import { compileContracts, renderGeneratedFiles } from '../src/compile.ts'

const generatedDir = fileURLToPath(new URL('../src/generated/', import.meta.url))

function main(): void {
  const started = performance.now()
  const { contracts, warnings, dependencyWarnings, solcVersion } = compileContracts()
  for (const warning of warnings) console.warn(warning)
  const files = renderGeneratedFiles(contracts)
  mkdirSync(generatedDir, { recursive: true })
  let changed = 0
  for (const [name, content] of files) {
    const path = join(generatedDir, name)
    let previous: string | undefined
    try {
      previous = readFileSync(path, 'utf8')
    } catch {
      previous = undefined
    }
    if (previous === content) continue
    writeFileSync(`${path}.tmp`, content)
    renameSync(`${path}.tmp`, path)
    changed++
  }
  // Bindings of contracts that no longer exist.
  for (const name of readdirSync(generatedDir)) {
    if (name.endsWith('.ts') && !files.has(name)) {
      rmSync(join(generatedDir, name))
      changed++
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(2)
  console.log(
    `solc ${solcVersion}: ${contracts.length} contracts (${contracts.map((c) => c.name).join(', ')}), ` +
      `${warnings.length} warning(s) (+${dependencyWarnings} in dependencies), ${changed} file(s) changed in src/generated, ${seconds} s`,
  )
}

try {
  main()
} catch (error) {
  console.error(isBaseError(error) ? error.message : error)
  process.exitCode = 1
}
