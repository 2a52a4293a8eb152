import { BaseError } from '@verity/protocol'
import { zKey } from 'snarkjs'
import { type Groth16VerificationKey, parseGroth16VerificationKey } from '../prover/parseGroth16.ts'
import { withBn128Curve } from '../prover/withBn128Curve.ts'

/**
 * Exports the Groth16 verification key of a proving key (snarkjs `zkey export
 * verificationkey`), as the JSON object snarkjs writes (including `vk_alphabeta_12`).
 *
 * @throws BaseError `ZK_ZKEY_INVALID` when the zkey cannot be read or is not Groth16/BN254.
 *
 * @example
 * ```ts
 * const vkey = await exportVerificationKey(finalZkey)
 * vkey.nPublic // 4
 * ```
 */
export async function exportVerificationKey(zkey: Uint8Array): Promise<Groth16VerificationKey> {
  let vkey: unknown
  try {
    vkey = await withBn128Curve(() => zKey.exportVerificationKey({ type: 'mem', data: zkey }))
  } catch (cause) {
    throw new BaseError('ZK_ZKEY_INVALID', 'snarkjs could not read the zkey.', {
      details: cause instanceof Error ? cause.message : String(cause),
      cause,
    })
  }
  parseGroth16VerificationKey(vkey) // throws ZK_VKEY_INVALID on anything unexpected
  return vkey as Groth16VerificationKey
}
