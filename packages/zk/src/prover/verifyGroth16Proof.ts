import { BaseError } from '@verity/protocol'
import { groth16 } from 'snarkjs'
import {
  parseGroth16Proof,
  parseGroth16VerificationKey,
  parsePublicSignals,
} from './parseGroth16.ts'
import { withBn128Curve } from './withBn128Curve.ts'

/**
 * Verifies a Groth16 proof offline with snarkjs, treating every argument as untrusted: the key,
 * the proof and the public signals are parsed and checked (decimal strings, field ranges, points
 * on the curve, signal count = `nPublic`) before snarkjs sees them. snarkjs's curve threads are
 * released afterwards.
 *
 * @returns `true` iff the pairing check passes; `false` for a well-formed proof that does not
 * verify (e.g. a changed public signal).
 * @throws BaseError `ZK_VKEY_INVALID` / `ZK_PROOF_INVALID` for malformed input.
 *
 * @example
 * ```ts
 * const ok = await verifyGroth16Proof(vkey, ['33', '42'], proof)
 * ```
 */
export async function verifyGroth16Proof(
  vkey: unknown,
  publicSignals: readonly (bigint | string)[],
  proof: unknown,
): Promise<boolean> {
  const key = parseGroth16VerificationKey(vkey)
  const signals = parsePublicSignals(publicSignals, key.nPublic)
  const parsed = parseGroth16Proof(proof)
  try {
    return await withBn128Curve(() =>
      groth16.verify(
        key,
        signals.map((s) => s.toString()),
        parsed,
      ),
    )
  } catch (cause) {
    throw new BaseError('ZK_PROOF_INVALID', 'snarkjs could not evaluate the Groth16 proof.', {
      details: cause instanceof Error ? cause.message : String(cause),
      cause,
    })
  }
}
