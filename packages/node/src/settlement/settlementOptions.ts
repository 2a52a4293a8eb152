import { BaseError, type VerityDomain } from '@verity/protocol'

/**
 * Options of {@link createSettlement}: plain data; everything but `domain` has a default in
 * {@link defaultSettlementOptions}.
 *
 * @example
 * ```ts
 * const options: SettlementOptions = { ...defaultSettlementOptions, domain, maxBatchSize: 64 }
 * ```
 */
export type SettlementOptions = {
  /**
   * The node's EIP-712 domain. It must name the chain's Settlement contract as
   * `verifyingContract`: requests are checked, and disputes answered, under that domain.
   */
  domain: VerityDomain
  /** A batch is committed as soon as this many receipts are pending (and holds at most this many). */
  maxBatchSize: number
  /** …or when the oldest pending receipt has waited this long, in ms. */
  maxBatchDelayMs: number
  /** How often the batcher and finalizer look at the database and the chain, in ms. */
  pollIntervalMs: number
  /**
   * A batch is committed early when a pending receipt's request deadline is this close (chain
   * time, seconds): a batch committed after a request's deadline is a provable fraud.
   */
  deadlineMarginSeconds: number
  /** How long a model's on-chain price and id are cached, in ms (balances are never cached). */
  modelCacheMs: number
  /** A quote whose job was never stored is dropped after this long, in ms. */
  quoteTtlMs: number
  /** How often `earnings(node)` is read when no batch of this node was finalized, in ms. */
  earningsCheckIntervalMs: number
  /** Earnings are withdrawn when they exceed this many wei. */
  minWithdrawalWei: bigint
  /**
   * Signed requests for models the ModelRegistry does not know: `free` serves them without
   * settlement, `refuse` rejects them with `MODEL_NOT_REGISTERED`.
   */
  unregisteredModels: 'free' | 'refuse'
  /** Largest block range of one event query (`eth_getLogs`). */
  logChunkBlocks: number
}

/**
 * The defaults: batches of up to 100 receipts or 30 s, a pass per second, commit at least 5 min
 * before a request's deadline, 30 s model cache, quotes dropped after 10 min without a job,
 * earnings checked every minute and withdrawn when above 0, unregistered models served free,
 * 10 000-block event queries.
 *
 * @example
 * ```ts
 * const settlement = createSettlement({ ...defaultSettlementOptions, domain }, components)
 * ```
 */
export const defaultSettlementOptions: Readonly<Omit<SettlementOptions, 'domain'>> = Object.freeze({
  maxBatchSize: 100,
  maxBatchDelayMs: 30_000,
  pollIntervalMs: 1_000,
  deadlineMarginSeconds: 300,
  modelCacheMs: 30_000,
  quoteTtlMs: 600_000,
  earningsCheckIntervalMs: 60_000,
  minWithdrawalWei: 0n,
  unregisteredModels: 'free',
  logChunkBlocks: 10_000,
})

/**
 * Settlement options as callers pass them: `domain` and any subset of the rest.
 *
 * @example
 * ```ts
 * const input: SettlementOptionsInput = { domain, maxBatchDelayMs: 5_000 }
 * ```
 */
export type SettlementOptionsInput = { domain: VerityDomain } & {
  [K in Exclude<keyof SettlementOptions, 'domain'>]?: SettlementOptions[K] | undefined
}

function invalid(name: string, expected: string, value: unknown): BaseError {
  return new BaseError(
    'INVALID_ARGUMENT',
    `Settlement option "${name}" is ${typeof value === 'bigint' ? value.toString() : JSON.stringify(value)}; expected ${expected}.`,
    { metaMessages: ['Omit the option to use the default.'] },
  )
}

/**
 * Fills in defaults and validates settlement options (`INVALID_ARGUMENT` naming the bad one).
 * The maximum batch size is capped by the contract's `MAX_PARTIES` only per party list, so any
 * size up to 2^32 − 1 is accepted; a batch also closes early when it would exceed 256 payers,
 * models or verifiers.
 *
 * @example
 * ```ts
 * resolveSettlementOptions({ domain }).maxBatchSize // 100
 * ```
 */
export function resolveSettlementOptions(input: SettlementOptionsInput): SettlementOptions {
  const options = { ...defaultSettlementOptions } as SettlementOptions
  for (const [key, value] of Object.entries(input))
    if (value !== undefined) (options as Record<string, unknown>)[key] = value
  const integers: [keyof SettlementOptions, number, number][] = [
    ['maxBatchSize', 1, 2 ** 32 - 1],
    ['maxBatchDelayMs', 0, 2 ** 31 - 1],
    ['pollIntervalMs', 1, 2 ** 31 - 1],
    ['deadlineMarginSeconds', 0, 2 ** 31 - 1],
    ['modelCacheMs', 0, 2 ** 31 - 1],
    ['quoteTtlMs', 1, 2 ** 31 - 1],
    ['earningsCheckIntervalMs', 1, 2 ** 31 - 1],
    ['logChunkBlocks', 1, 1_000_000],
  ]
  for (const [name, min, max] of integers) {
    const value = options[name]
    if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max)
      throw invalid(name, `an integer from ${min} to ${max}`, value)
  }
  if (typeof options.minWithdrawalWei !== 'bigint' || options.minWithdrawalWei < 0n)
    throw invalid('minWithdrawalWei', 'a non-negative bigint (wei)', options.minWithdrawalWei)
  if (options.unregisteredModels !== 'free' && options.unregisteredModels !== 'refuse')
    throw invalid('unregisteredModels', '"free" or "refuse"', options.unregisteredModels)
  if (options.domain?.verifyingContract === undefined)
    throw new BaseError(
      'INVALID_ARGUMENT',
      'Settlement needs a domain that names the Settlement contract (verifyingContract).',
      {
        metaMessages: [
          'Give the node its network ({ chainId, settlement }) so that requests are signed under the Settlement domain.',
        ],
      },
    )
  return options
}
