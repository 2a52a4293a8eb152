import type { CircuitInput } from '../circom/calculateWitness.ts'

/** The proving systems `@verity/zk` implements (Groth16 today; PLONK/fflonk could follow). */
export type ProvingSystem = 'groth16'

/** A typed progress event from a proving run. */
export type ProveProgressEvent = {
  /** `witness`: running the circuit's witness generator; `prove`: the Groth16 prover. */
  phase: 'witness' | 'prove'
  /** `start`/`end` of a phase, or a `step` inside it (snarkjs's own stage names). */
  status: 'start' | 'step' | 'end'
  /** The snarkjs stage for `status: 'step'` (e.g. `Building ABC`, `IFFT_A`, `Multiexp A`). */
  step?: string | undefined
  /** Milliseconds since `prove` was called. */
  elapsedMs: number
}

/**
 * What to prove: the proving key plus either a computed witness (binary `.wtns`) or the
 * circuit's witness generator and an input (the witness is then computed in the prover's thread).
 */
export type ProveParameters =
  | { zkey: Uint8Array; witness: Uint8Array }
  | { zkey: Uint8Array; wasm: Uint8Array; input: CircuitInput }

export type ProveOptions = {
  /** Cancels the run (the proving thread is terminated). */
  signal?: AbortSignal | undefined
  /** Receives progress events. */
  onProgress?: ((event: ProveProgressEvent) => void) | undefined
}

/** The result of a proving run; `proof` is JSON-serialisable. */
export type ProveResult<TProof> = {
  proof: TProof
  /** Public signals in circuit order (outputs first). `publicSignalsToJson` for receipts. */
  publicSignals: bigint[]
  /** Time spent computing the witness (0 when a witness was given). */
  witnessMs: number
  /** Time spent in the prover proper. */
  proveMs: number
}

/**
 * A proving system: proves a circuit statement and verifies proofs offline. Implementations
 * keep the caller's event loop free and release every thread they start.
 *
 * @example
 * ```ts
 * const prover: Prover<Groth16Proof> = createGroth16Prover()
 * const { proof, publicSignals } = await prover.prove({ zkey, wasm, input })
 * await prover.verify(vkey, publicSignals, proof) // true
 * ```
 */
export type Prover<TProof> = {
  readonly system: ProvingSystem
  prove(parameters: ProveParameters, options?: ProveOptions): Promise<ProveResult<TProof>>
  /**
   * `true` iff the proof is valid for the key and public signals. Structurally malformed,
   * untrusted input throws (`ZK_PROOF_INVALID`, `ZK_VKEY_INVALID`) instead of returning false.
   */
  verify(
    vkey: unknown,
    publicSignals: readonly (bigint | string)[],
    proof: unknown,
  ): Promise<boolean>
}
