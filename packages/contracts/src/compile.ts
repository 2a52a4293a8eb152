import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BaseError } from '@verity/protocol'
import solc from 'solc'

/**
 * Pinned compiler settings. Changing any of them changes every bytecode, so the generated files
 * must be rebuilt (`npm run contracts:build`) and committed in the same change.
 *
 * - `optimizer` on with 200 runs: the usual balance of deployment against call cost.
 * - `evmVersion: 'cancun'`: supported by anvil and every current L1/L2 (PUSH0, MCOPY, transient
 *   storage available to OpenZeppelin).
 * - `viaIR: false`: the legacy pipeline compiles these contracts in about a second; IR is several
 *   times slower and only needed for "stack too deep", which none of the sources hit.
 * - metadata hash kept (`ipfs`, the default): source unit names are package-relative, so the hash
 *   does not depend on where the repository is checked out.
 *
 * @example
 * ```ts
 * import { compilerSettings } from './compile.ts'
 * console.log(compilerSettings.evmVersion) // 'cancun'
 * ```
 */
export const compilerSettings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  viaIR: false,
} as const

/** One compiled, deployable contract. */
export type CompiledContract = {
  /** Solidity name, e.g. `NodeRegistry`. */
  name: string
  /** Source unit name relative to the package, e.g. `contracts/NodeRegistry.sol`. */
  source: string
  abi: readonly AbiItem[]
  bytecode: `0x${string}`
}

/** The subset of a JSON ABI item the generator relies on (the rest is kept as is). */
export type AbiItem = { type: string; name?: string; [key: string]: unknown }

export type CompileContractsOptions = {
  /** Folder holding the `.sol` files (searched recursively). Defaults to this package's `contracts/`. */
  contractsDir?: string | undefined
}

export type CompileContractsReturnType = {
  /** Deployable contracts (kind `contract`, not abstract), sorted by name. */
  contracts: CompiledContract[]
  /** Formatted compiler warnings about these sources (never fatal). */
  warnings: string[]
  /** Number of warnings about imported npm sources (OpenZeppelin), which are not ours to fix. */
  dependencyWarnings: number
  /** The solc version that compiled them. */
  solcVersion: string
}

const packageDir = fileURLToPath(new URL('..', import.meta.url))
const require = createRequire(import.meta.url)

type SolcError = {
  severity: string
  formattedMessage?: string
  message: string
  sourceLocation?: { file?: string }
}
type SolcAstNode = { nodeType: string; name?: string; contractKind?: string; abstract?: boolean }
type SolcOutput = {
  errors?: SolcError[]
  sources?: Record<string, { ast?: { nodes?: SolcAstNode[] } }>
  contracts?: Record<
    string,
    Record<string, { abi: AbiItem[]; evm: { bytecode: { object: string } } }>
  >
}

/** All `.sol` files under `dir`, as sorted package-relative POSIX paths. */
function findSources(dir: string, base: string): string[] {
  const found: string[] = []
  const walk = (current: string): void => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const path = join(current, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.isFile() && entry.name.endsWith('.sol')) {
        found.push(relative(base, path).split(sep).join('/'))
      }
    }
  }
  walk(dir)
  return found.sort()
}

/** Resolves `@openzeppelin/contracts/...` (and any other npm-hosted import) from node_modules. */
function readImport(path: string): { contents: string } | { error: string } {
  const match = /^(@[^/]+\/[^/]+|[^@/][^/]*)\/(.+)$/.exec(path)
  if (!match) return { error: `Import "${path}" is neither package-relative nor an npm package.` }
  try {
    const packageJson = require.resolve(`${match[1]}/package.json`)
    return { contents: readFileSync(join(dirname(packageJson), match[2]!), 'utf8') }
  } catch (error) {
    return { error: `Cannot resolve import "${path}": ${(error as Error).message}` }
  }
}

/**
 * Compiles every `.sol` file under `contracts/` with the bundled solc-js (no download) and the
 * pinned {@link compilerSettings}. Throws a `BaseError` listing every compiler error; warnings are
 * returned. Deterministic: the same sources give the same ABIs and bytecode.
 *
 * @example
 * ```ts
 * const { contracts } = compileContracts()
 * const registry = contracts.find((c) => c.name === 'NodeRegistry')
 * ```
 */
export function compileContracts(
  options: CompileContractsOptions = {},
): CompileContractsReturnType {
  const contractsDir = options.contractsDir ?? join(packageDir, 'contracts')
  const base = dirname(contractsDir)
  const files = findSources(contractsDir, base)
  if (files.length === 0) {
    throw new BaseError('FILE_NOT_FOUND', `No .sol files found under ${contractsDir}.`, {
      metaMessages: ['Expected the Solidity sources of @verity/contracts there.'],
    })
  }
  const sources: Record<string, { content: string }> = {}
  for (const file of files) sources[file] = { content: readFileSync(join(base, file), 'utf8') }

  const input = {
    language: 'Solidity',
    sources,
    settings: {
      ...compilerSettings,
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'], '': ['ast'] } },
    },
  }
  const findImports = (path: string): { contents: string } | { error: string } => {
    if (sources[path]) return { contents: sources[path].content }
    return readImport(path)
  }
  const output = JSON.parse(
    solc.compile(JSON.stringify(input), { import: findImports }),
  ) as SolcOutput

  const problems = output.errors ?? []
  const format = (e: SolcError): string => (e.formattedMessage ?? e.message).trim()
  const errors = problems.filter((e) => e.severity === 'error').map(format)
  // Warnings about npm dependencies (OpenZeppelin) are counted, not printed: nothing to fix here.
  const ownFile = (e: SolcError): boolean =>
    !e.sourceLocation?.file || e.sourceLocation.file in sources
  const notErrors = problems.filter((e) => e.severity !== 'error')
  const warnings = notErrors.filter(ownFile).map(format)
  const dependencyWarnings = notErrors.length - warnings.length
  if (errors.length > 0) {
    throw new BaseError(
      'INVALID_ARGUMENT',
      `Solidity compilation failed with ${errors.length} error(s).`,
      {
        metaMessages: ['Fix the sources under packages/contracts/contracts and compile again.'],
        details: errors.join('\n\n'),
      },
    )
  }

  const contracts: CompiledContract[] = []
  const seen = new Map<string, string>()
  for (const file of files) {
    const nodes = output.sources?.[file]?.ast?.nodes ?? []
    for (const node of nodes) {
      if (node.nodeType !== 'ContractDefinition' || node.contractKind !== 'contract') continue
      if (node.abstract || !node.name) continue
      const compiled = output.contracts?.[file]?.[node.name]
      if (!compiled) continue
      const previous = seen.get(node.name)
      if (previous !== undefined) {
        throw new BaseError(
          'INVALID_ARGUMENT',
          `Contract name "${node.name}" is defined twice (${previous} and ${file}).`,
          { metaMessages: ['Generated bindings are named after the contract: rename one.'] },
        )
      }
      seen.set(node.name, file)
      contracts.push({
        name: node.name,
        source: file,
        abi: compiled.abi,
        bytecode: `0x${compiled.evm.bytecode.object}`,
      })
    }
  }
  contracts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return { contracts, warnings, dependencyWarnings, solcVersion: solc.version() as string }
}

/**
 * The lowerCamel binding name of a Solidity contract name: `NodeRegistry` → `nodeRegistry`,
 * `ERC20Mock` → `erc20Mock`.
 *
 * @example
 * ```ts
 * bindingName('InferenceHub') // 'inferenceHub'
 * ```
 */
export function bindingName(contractName: string): string {
  const leadingCaps = /^[A-Z]+/.exec(contractName)?.[0] ?? ''
  if (leadingCaps.length <= 1 || leadingCaps.length === contractName.length) {
    return contractName.charAt(0).toLowerCase() + contractName.slice(1)
  }
  // `ERC20Mock`: lower the whole acronym; `ABCDef`: keep the last capital as the next word's start.
  const rest = contractName.slice(leadingCaps.length)
  const acronym = /^[a-z]/.test(rest) ? leadingCaps.slice(0, -1) : leadingCaps
  return acronym.toLowerCase() + contractName.slice(acronym.length)
}

/** Emits a JSON value as TypeScript in the layout Biome keeps (objects and non-empty arrays expanded). */
function emitValue(value: unknown, indent: string): string {
  const inner = `${indent}  `
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]'
    return `[\n${value.map((item) => `${inner}${emitValue(item, inner)},\n`).join('')}${indent}]`
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
    if (entries.length === 0) return '{}'
    const lines = entries.map(([key, item]) => {
      const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `'${key}'`
      return `${inner}${name}: ${emitValue(item, inner)},\n`
    })
    return `{\n${lines.join('')}${indent}}`
  }
  if (typeof value === 'string') {
    if (/['\\\n\r]/.test(value)) return JSON.stringify(value)
    return `'${value}'`
  }
  return JSON.stringify(value)
}

const header =
  '// Generated by packages/contracts/scripts/compile.ts. Do not edit: run `npm run contracts:build`.\n'

/**
 * Renders `src/generated/<Name>.ts` for each contract and `src/generated/index.ts`, already in the
 * layout Biome's formatter produces. Keys are file names.
 *
 * @example
 * ```ts
 * const files = renderGeneratedFiles(compileContracts().contracts)
 * files.get('NodeRegistry.ts') // 'export const nodeRegistryAbi = [ … ] as const …'
 * ```
 */
export function renderGeneratedFiles(contracts: readonly CompiledContract[]): Map<string, string> {
  const files = new Map<string, string>()
  for (const contract of contracts) {
    const binding = bindingName(contract.name)
    files.set(
      `${contract.name}.ts`,
      `${header}
/**
 * ABI of \`${contract.name}\` (${contract.source}).
 *
 * @example
 * \`\`\`ts
 * import { getContract } from 'viem'
 * const contract = getContract({ address, abi: ${binding}Abi, client })
 * \`\`\`
 */
export const ${binding}Abi = ${emitValue(contract.abi, '')} as const

/**
 * Creation bytecode of \`${contract.name}\` (constructor arguments are appended by viem).
 *
 * @example
 * \`\`\`ts
 * const hash = await walletClient.deployContract({ abi: ${binding}Abi, bytecode: ${binding}Bytecode, args })
 * \`\`\`
 */
export const ${binding}Bytecode =
  '${contract.bytecode}' as const
`,
    )
  }
  const exports = contracts
    .map(
      (c) =>
        `export { ${bindingName(c.name)}Abi, ${bindingName(c.name)}Bytecode } from './${c.name}.ts'\n`,
    )
    .join('')
  files.set('index.ts', `${header}${exports}`)
  return files
}
