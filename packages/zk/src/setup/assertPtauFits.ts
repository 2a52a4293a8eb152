import { BaseError } from '@verity/protocol'
import type { R1csHeader } from '../circom/readR1csHeader.ts'

/**
 * The smallest powers-of-tau power `k` a circuit needs for Groth16: snarkjs's domain must hold
 * every constraint plus one per public signal, i.e. `2^k > constraints + publicSignals`.
 *
 * @example
 * ```ts
 * requiredPtauPower({ constraints: 8546, publicSignals: 12 }) // 14
 * ```
 */
export function requiredPtauPower(size: { constraints: number; publicSignals: number }): number {
  const needed = size.constraints + size.publicSignals
  return needed <= 0 ? 1 : 32 - Math.clz32(needed)
}

/**
 * The largest constraint count a `2^power` file supports for a circuit with `publicSignals`
 * public signals.
 *
 * @example
 * ```ts
 * maxConstraintsForPower(14, 12) // 16371
 * ```
 */
export function maxConstraintsForPower(power: number, publicSignals: number): number {
  return 2 ** power - 1 - publicSignals
}

/**
 * Refuses a circuit that does not fit a powers-of-tau file.
 *
 * @throws BaseError `ZK_PTAU_TOO_SMALL` with the figures.
 *
 * @example
 * ```ts
 * assertPtauFits(ptau, readR1csHeader(compiled.r1cs))
 * ```
 */
export function assertPtauFits(
  ptau: { power: number; path?: string | undefined },
  r1cs: Pick<R1csHeader, 'constraints' | 'publicInputs' | 'publicOutputs'>,
): void {
  const publicSignals = r1cs.publicInputs + r1cs.publicOutputs
  const needed = requiredPtauPower({ constraints: r1cs.constraints, publicSignals })
  if (needed > ptau.power) {
    throw new BaseError(
      'ZK_PTAU_TOO_SMALL',
      `The circuit has ${r1cs.constraints} constraints and ${publicSignals} public signals, which needs a 2^${needed} powers-of-tau file; ${ptau.path ?? 'the given file'} is 2^${ptau.power} (at most ${maxConstraintsForPower(ptau.power, publicSignals)} constraints).`,
      {
        metaMessages: [`Use a prepared phase-1 file of power ≥ ${needed}, or shrink the circuit.`],
      },
    )
  }
}
