import { BaseError, type Hex } from '@verity/protocol'
import { zKey } from 'snarkjs'
import { readR1csHeader } from '../circom/readR1csHeader.ts'
import { withBn128Curve } from '../prover/withBn128Curve.ts'
import { captureLogger } from './captureLogger.ts'
import type { PowersOfTau } from './loadPowersOfTau.ts'
import { readZkeyContributions } from './readZkeyContributions.ts'

/** A verified contribution, as listed by `verifyCeremony`. */
export type VerifiedContribution = {
  type: 'contribution' | 'beacon'
  name: string
  /** snarkjs's contribution hash (blake2b-512, 0x-hex), recomputed from the zkey. */
  contributionHash: Hex
  beaconHash?: Hex | undefined
  iterationsExp?: number | undefined
}

export type VerifyCeremonyReturnType = {
  /** Whether the zkey derives from this r1cs and ptau through valid contributions. */
  ok: boolean
  /** snarkjs's circuit hash (0x-hex). */
  circuitHash: Hex
  /** The contributions in order (empty when `ok` is false). */
  contributions: VerifiedContribution[]
  /** snarkjs's reasons when `ok` is false. */
  errors: string[]
}

const CONTRIBUTION_LINE = /^contribution #(\d+) /

/**
 * Verifies a phase-2 ceremony from scratch (snarkjs `zkey verify`): re-derives the initial key
 * from the r1cs and phase-1 file and checks every contribution and the beacon in the given zkey,
 * recomputing their hashes so they can be compared with what contributors published.
 *
 * @throws BaseError `ZK_ZKEY_INVALID` when the zkey cannot be parsed at all.
 *
 * @example
 * ```ts
 * const { ok, contributions } = await verifyCeremony(compiled.r1cs, ptau, finalZkey)
 * ```
 */
export async function verifyCeremony(
  r1cs: Uint8Array,
  ptau: PowersOfTau | Uint8Array,
  zkey: Uint8Array,
): Promise<VerifyCeremonyReturnType> {
  readR1csHeader(r1cs)
  const mpc = readZkeyContributions(zkey)
  const ptauBytes = ptau instanceof Uint8Array ? ptau : ptau.bytes
  const logger = captureLogger()
  let ok: boolean
  try {
    ok = await withBn128Curve(() =>
      zKey.verifyFromR1cs(
        { type: 'mem', data: r1cs },
        { type: 'mem', data: ptauBytes },
        { type: 'mem', data: zkey },
        logger,
      ),
    )
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause)
    return { ok: false, circuitHash: mpc.circuitHash, contributions: [], errors: [message] }
  }
  if (!ok) {
    return {
      ok: false,
      circuitHash: mpc.circuitHash,
      contributions: [],
      errors: logger.errors.length ? logger.errors : ['snarkjs rejected the zkey'],
    }
  }
  // snarkjs logs each verified contribution's recomputed hash ("contribution #i name:" + hex).
  const hashes = new Map<number, Hex>()
  for (const message of logger.infos) {
    const match = CONTRIBUTION_LINE.exec(message)
    if (!match) continue
    const hex = message.split('\n').slice(1).join('').replace(/\s+/g, '')
    if (/^[0-9a-f]{128}$/.test(hex)) hashes.set(Number(match[1]), `0x${hex}`)
  }
  const contributions = mpc.contributions.map((c, i): VerifiedContribution => {
    const contributionHash = hashes.get(i + 1)
    if (!contributionHash) {
      throw new BaseError(
        'INTERNAL',
        `snarkjs verified the zkey but did not report contribution #${i + 1}'s hash.`,
        { metaMessages: ['The snarkjs version may have changed its log format (expected 0.7.6).'] },
      )
    }
    return {
      type: c.type,
      name: c.name,
      contributionHash,
      ...(c.type === 'beacon' ? { beaconHash: c.beaconHash, iterationsExp: c.iterationsExp } : {}),
    }
  })
  return { ok: true, circuitHash: mpc.circuitHash, contributions, errors: [] }
}
