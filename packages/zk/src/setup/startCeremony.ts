import { BaseError } from '@verity/protocol'
import { zKey } from 'snarkjs'
import { readR1csHeader } from '../circom/readR1csHeader.ts'
import { withBn128Curve } from '../prover/withBn128Curve.ts'
import { assertPtauFits } from './assertPtauFits.ts'
import { captureLogger } from './captureLogger.ts'
import { type PowersOfTau, readPtauHeader } from './loadPowersOfTau.ts'

/**
 * Starts a circuit's Groth16 phase-2 ceremony: derives the initial proving key (`zkey` with no
 * contribution yet) from the circuit's `.r1cs` and a prepared phase-1 file. The result is NOT
 * safe to prove with until at least one honest party has contributed (`contribute`) and a
 * beacon has been applied (`applyBeacon`).
 *
 * @throws BaseError `ZK_PTAU_TOO_SMALL` when the circuit does not fit the phase-1 file,
 * `ZK_CIRCUIT_INVALID` / `ZK_PTAU_INVALID` for unusable inputs.
 *
 * @example
 * ```ts
 * const ptau = await loadPowersOfTau('/work/shared/assets/zk/pot14_final.ptau')
 * const zkey0 = await startCeremony(compiled.r1cs, ptau)
 * ```
 */
export async function startCeremony(
  r1cs: Uint8Array,
  ptau: PowersOfTau | Uint8Array,
): Promise<Uint8Array> {
  const header = readR1csHeader(r1cs)
  const ptauBytes = ptau instanceof Uint8Array ? ptau : ptau.bytes
  const ptauInfo =
    ptau instanceof Uint8Array ? readPtauHeader(ptau) : { power: ptau.power, path: ptau.path }
  assertPtauFits(ptauInfo, header)
  const logger = captureLogger()
  const out: { type: 'mem'; data?: Uint8Array } = { type: 'mem' }
  const result = await withBn128Curve(() =>
    zKey.newZKey({ type: 'mem', data: r1cs }, { type: 'mem', data: ptauBytes }, out, logger),
  )
  if (result === -1 || !out.data) {
    throw new BaseError('ZK_CIRCUIT_INVALID', 'snarkjs could not derive the initial zkey.', {
      details: logger.errors.join('\n'),
      metaMessages: ['Check the r1cs is a BN254 circuit and the ptau is prepared for phase 2.'],
    })
  }
  return out.data
}
