import { join, resolve } from 'node:path'
import { BaseError } from '@verity/protocol'
import { getAddress } from 'viem'

/**
 * The most a node agrees to spend on one proof, checked against the pre-flight estimate
 * (`estimateProvingCost`) before a job is accepted: refused jobs get `ZK_BUDGET_EXCEEDED` (422).
 *
 * @example
 * ```ts
 * const budget: ZkBudget = { maxConstraints: 1 << 16, maxMemoryBytes: 2 ** 31, maxProveMs: 60_000 }
 * ```
 */
export type ZkBudget = {
  /** Largest circuit, in R1CS constraints. */
  maxConstraints: number
  /** Largest expected peak memory of the proving thread, in bytes. */
  maxMemoryBytes: number
  /** Longest expected time of one proof (worker start, witness, prover), in ms. */
  maxProveMs: number
}

/**
 * The zero-knowledge part of a node (mode `zk`).
 *
 * @example
 * ```ts
 * const zk: ZkOptions = { enabled: true, dir: '/data/zk', budget: defaultZkOptions.budget }
 * ```
 */
export type ZkOptions = {
  /**
   * Offer mode `zk`: prove the jobs of models whose manifest has a `zk` section and whose proving
   * artifacts are in `dir`, and serve those artifacts (`GET /v1/zk/artifacts/:cid`). `auto` (the
   * default): when `dir` holds any model's zk section at start (`<dir>/models` exists), so a node
   * without zk artifacts does not advertise a mode it cannot serve. Manifests get their `zk`
   * section from `dir` either way, so every node holding the same artifacts derives the same
   * manifest.
   */
  enabled: boolean | 'auto'
  /** The zk artifact store (`verity zk compile --out`); `<dataDir>/zk` by default. */
  dir: string
  budget: ZkBudget
  /**
   * Who may ask this node for a phase-2 ceremony contribution (`POST /v1/zk/contribute`, signed
   * with `signZkContributionRequest`): each call costs seconds of CPU, so nobody else can. Empty
   * (the default): the node takes no ceremony turns.
   */
  coordinators: readonly `0x${string}`[]
}

/**
 * Zk options as callers pass them: any subset; `dir` defaults to `<dataDir>/zk`.
 *
 * @example
 * ```ts
 * const input: ZkOptionsInput = { budget: { maxConstraints: 20_000 } }
 * ```
 */
export type ZkOptionsInput = {
  enabled?: boolean | 'auto' | undefined
  dir?: string | undefined
  budget?: { [K in keyof ZkBudget]?: ZkBudget[K] | undefined } | undefined
  coordinators?: readonly string[] | undefined
}

/**
 * The defaults: mode `zk` offered when the artifact folder holds zk sections (`auto`), and a
 * generous budget — 2^16 constraints (the size the demo
 * circuits are designed to fit), 2 GiB of expected peak memory, 60 s per proof. The demo MLP
 * (~13k constraints) is estimated at ~1.5 s and ~450 MB.
 *
 * @example
 * ```ts
 * defaultZkOptions.budget.maxConstraints // 65536
 * ```
 */
export const defaultZkOptions: Readonly<Omit<ZkOptions, 'dir'>> = Object.freeze({
  enabled: 'auto',
  coordinators: Object.freeze([]),
  budget: Object.freeze({
    maxConstraints: 1 << 16,
    maxMemoryBytes: 2 * 1024 * 1024 * 1024,
    maxProveMs: 60_000,
  }),
})

function invalid(name: string, expected: string, value: unknown): BaseError {
  return new BaseError(
    'INVALID_ARGUMENT',
    `Node option "zk.${name}" is ${JSON.stringify(value)}; expected ${expected}.`,
    { metaMessages: ['Omit the option to use the default.'] },
  )
}

/**
 * Fills in the zk defaults and validates them (`INVALID_ARGUMENT` naming the bad option); `dir`
 * becomes absolute, `<dataDir>/zk` when not given.
 *
 * @example
 * ```ts
 * resolveZkOptions({}, '/data').dir // '/data/zk'
 * ```
 */
export function resolveZkOptions(input: ZkOptionsInput | undefined, dataDir: string): ZkOptions {
  const enabled = input?.enabled ?? defaultZkOptions.enabled
  if (typeof enabled !== 'boolean' && enabled !== 'auto')
    throw invalid('enabled', "true, false or 'auto'", enabled)
  const dir = input?.dir ?? join(dataDir, 'zk')
  if (typeof dir !== 'string' || dir.trim() === '') throw invalid('dir', 'a folder path', dir)
  const budget: ZkBudget = { ...defaultZkOptions.budget }
  for (const [key, value] of Object.entries(input?.budget ?? {}))
    if (value !== undefined) (budget as Record<string, unknown>)[key] = value
  for (const [key, value] of Object.entries(budget))
    if (!(key in defaultZkOptions.budget) || !Number.isSafeInteger(value) || value < 1)
      throw invalid(`budget.${key}`, 'a positive integer', value)
  const coordinators = input?.coordinators ?? defaultZkOptions.coordinators
  if (!Array.isArray(coordinators))
    throw invalid('coordinators', 'a list of addresses', coordinators)
  for (const address of coordinators)
    if (typeof address !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(address))
      throw invalid('coordinators', 'addresses (0x + 40 hex digits)', address)
  return {
    enabled,
    dir: resolve(dir),
    budget,
    coordinators: coordinators.map((address) => getAddress(address)),
  }
}
