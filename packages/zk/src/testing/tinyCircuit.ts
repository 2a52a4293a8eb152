/**
 * A tiny circuit with the same public interface as Verity's model circuits (one private `in[N]`
 * of range-checked bytes; public outputs `out[M]`, then `inputCommitment`, then
 * `modelCommitment`), for fast tests of the prover toolchain. `out[0] = in[0]·in[1]`,
 * `out[1] = in[2] + 3·in[3] − 7` (may be negative, i.e. p − |v|), `inputCommitment =
 * Poseidon(in)`, `modelCommitment = 42`. About 270 constraints: fits `pot14`.
 *
 * @example
 * ```ts
 * const compiled = await compileCircom({ source: tinyCircuitSource, name: 'tiny' })
 * ```
 */
export const tinyCircuitSource = `pragma circom 2.1.0;
include "bitify.circom";
include "poseidon.circom";

template Tiny(N) {
  signal input in[N];
  signal output out[2];
  signal output inputCommitment;
  signal output modelCommitment;

  component range[N];
  for (var i = 0; i < N; i++) {
    range[i] = Num2Bits(8);
    range[i].in <== in[i];
  }
  out[0] <== in[0] * in[1];
  out[1] <== in[2] + 3 * in[3] - 7;

  component hash = Poseidon(N);
  for (var i = 0; i < N; i++) hash.inputs[i] <== in[i];
  inputCommitment <== hash.out;
  modelCommitment <== 42;
}

component main = Tiny(4);
`

/**
 * A sample input for {@link tinyCircuitSource}.
 *
 * @example
 * ```ts
 * const witness = await calculateWitness(compiled.wasm, tinyCircuitInput)
 * ```
 */
export const tinyCircuitInput = { in: ['3', '11', '1', '0'] } as const

/**
 * A circuit with about `n` constraints (a chain of `n` multiplications), for measuring how
 * setup and proving scale with size.
 *
 * @example
 * ```ts
 * const compiled = await compileCircom({ source: chainCircuitSource(1000), name: 'chain' })
 * ```
 */
export function chainCircuitSource(n: number): string {
  return `pragma circom 2.1.0;
template Chain(N) {
  signal input in[2];
  signal output out;
  signal acc[N + 1];
  acc[0] <== in[0];
  for (var i = 0; i < N; i++) acc[i + 1] <== acc[i] * in[1];
  out <== acc[N];
}
component main = Chain(${n});
`
}
