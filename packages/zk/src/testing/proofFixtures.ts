import type { Groth16Proof } from '../prover/parseGroth16.ts'

/**
 * A well-formed (on-curve) but meaningless Groth16 proof made of BN254's generators
 * (`pi_a = pi_c = G1`, `pi_b = G2`), for encoding and parsing tests that need no prover.
 *
 * @example
 * ```ts
 * encodeGroth16Proof(generatorProof)
 * ```
 */
export const generatorProof: Groth16Proof = {
  protocol: 'groth16',
  curve: 'bn128',
  pi_a: ['1', '2', '1'],
  pi_b: [
    [
      '10857046999023057135944570762232829481370756359578518086990519993285655852781',
      '11559732032986387107991004021392285783925812861821192530917403151452391805634',
    ],
    [
      '8495653923123431417604973247489272438418190587263600148770280649306958101930',
      '4082367875863433681332203403145435568316851327593401208105741076214120093531',
    ],
    ['1', '0'],
  ],
  pi_c: ['1', '2', '1'],
}
