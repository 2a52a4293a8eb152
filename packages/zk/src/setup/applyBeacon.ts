import { BaseError } from '@verity/protocol'
import { zKey } from 'snarkjs'
import { withBn128Curve } from '../prover/withBn128Curve.ts'
import { captureLogger } from './captureLogger.ts'
import { assertContributionName, type ContributeReturnType } from './contribute.ts'
import { readZkeyContributions } from './readZkeyContributions.ts'

/**
 * Finalises a phase-2 ceremony with a random beacon: a public value nobody could predict when
 * the last contribution was made (e.g. a future block hash), hashed `2^iterationsExp` times. The
 * result is the final proving key.
 *
 * @throws BaseError `INVALID_ARGUMENT` for a bad beacon (1–255 bytes of hex) or `iterationsExp`
 * outside 10–63.
 *
 * @example
 * ```ts
 * const { zkey: finalZkey } = await applyBeacon(zkey2, {
 *   beaconHash: '0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20',
 *   iterationsExp: 10,
 * })
 * ```
 */
export async function applyBeacon(
  zkey: Uint8Array,
  options: { beaconHash: string; iterationsExp: number; name?: string | undefined },
): Promise<ContributeReturnType> {
  const name = options.name ?? 'final beacon'
  assertContributionName(name)
  const beaconHex = options.beaconHash.replace(/^0x/i, '')
  if (!/^([0-9a-fA-F]{2}){1,255}$/.test(beaconHex)) {
    throw new BaseError(
      'INVALID_ARGUMENT',
      `The beacon ${JSON.stringify(options.beaconHash).slice(0, 80)} is not 1–255 bytes of hex.`,
      { metaMessages: ['Use a public, unpredictable value such as a future block hash.'] },
    )
  }
  const { iterationsExp } = options
  if (!Number.isInteger(iterationsExp) || iterationsExp < 10 || iterationsExp > 63) {
    throw new BaseError(
      'INVALID_ARGUMENT',
      `iterationsExp is ${iterationsExp}; snarkjs accepts integers 10–63.`,
      { metaMessages: ['The beacon is hashed 2^iterationsExp times; 10 is enough for tests.'] },
    )
  }
  readZkeyContributions(zkey)
  const logger = captureLogger()
  const out: { type: 'mem'; data?: Uint8Array } = { type: 'mem' }
  const hash = await withBn128Curve(() =>
    zKey.beacon({ type: 'mem', data: zkey }, out, name, beaconHex, iterationsExp, logger),
  )
  if (!(hash instanceof Uint8Array) || !out.data) {
    throw new BaseError('ZK_ZKEY_INVALID', 'snarkjs could not apply the beacon.', {
      details: logger.errors.join('\n'),
    })
  }
  return { zkey: out.data, contributionHash: `0x${Buffer.from(hash).toString('hex')}` }
}
