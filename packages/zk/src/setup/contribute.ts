import { randomBytes } from 'node:crypto'
import { BaseError, type Hex } from '@verity/protocol'
import { zKey } from 'snarkjs'
import { withBn128Curve } from '../prover/withBn128Curve.ts'
import { readZkeyContributions } from './readZkeyContributions.ts'

/** The result of a phase-2 contribution. */
export type ContributeReturnType = {
  /** The new proving key, carrying this contribution. */
  zkey: Uint8Array
  /** snarkjs's contribution hash (blake2b-512, 0x-hex); the contributor publishes it. */
  contributionHash: Hex
}

const NAME = /^[\x20-\x7e]{1,64}$/

/**
 * Checks a contributor name fits snarkjs's zkey record (printable ASCII, 1–64 characters).
 *
 * @throws BaseError `INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * assertContributionName('alice') // ok
 * ```
 */
export function assertContributionName(name: string): void {
  if (!NAME.test(name)) {
    throw new BaseError(
      'INVALID_ARGUMENT',
      `Contribution name ${JSON.stringify(name).slice(0, 80)} is not 1–64 printable ASCII characters.`,
      { metaMessages: ['snarkjs stores the name in the zkey; use a short ASCII label.'] },
    )
  }
}

function toHex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes).toString('hex')}`
}

/**
 * Adds one phase-2 contribution to a Groth16 proving key. The contributor's secret is derived
 * from fresh OS randomness mixed with `entropy` (optional extra entropy; never stored) and is
 * discarded afterwards: the ceremony is sound as long as one contributor was honest.
 *
 * @throws BaseError `INVALID_ARGUMENT` for a bad name, `ZK_ZKEY_INVALID` for a bad key.
 *
 * @example
 * ```ts
 * const { zkey: zkey1, contributionHash } = await contribute(zkey0, { name: 'alice' })
 * ```
 */
export async function contribute(
  zkey: Uint8Array,
  options: { name: string; entropy?: string | Uint8Array | undefined },
): Promise<ContributeReturnType> {
  assertContributionName(options.name)
  readZkeyContributions(zkey) // structural check before snarkjs
  const extra =
    options.entropy === undefined
      ? ''
      : typeof options.entropy === 'string'
        ? options.entropy
        : Buffer.from(options.entropy).toString('hex')
  // snarkjs prompts on stdin when the entropy is empty: always pass fresh randomness.
  const entropy = `${randomBytes(32).toString('hex')}${extra}`
  const out: { type: 'mem'; data?: Uint8Array } = { type: 'mem' }
  let hash: Uint8Array
  try {
    hash = await withBn128Curve(() =>
      zKey.contribute({ type: 'mem', data: zkey }, out, options.name, entropy),
    )
  } catch (cause) {
    throw new BaseError('ZK_ZKEY_INVALID', 'snarkjs could not contribute to the zkey.', {
      details: cause instanceof Error ? cause.message : String(cause),
      cause,
    })
  }
  if (!out.data || !(hash instanceof Uint8Array)) {
    throw new BaseError('ZK_ZKEY_INVALID', 'snarkjs produced no contribution.')
  }
  return { zkey: out.data, contributionHash: toHex(hash) }
}
