import { BaseError, type Hex } from '@verity/protocol'
import { type Groth16Proof, parseGroth16Proof } from './parseGroth16.ts'

const WORD = 64 // hex characters per uint256

function word(value: string): string {
  return BigInt(value).toString(16).padStart(WORD, '0')
}

/**
 * ABI-encodes a Groth16 proof as `abi.encode(uint256[2] a, uint256[2][2] b, uint256[2] c)`
 * (256 bytes), in the order snarkjs's generated `Groth16Verifier.verifyProof(_pA, _pB, _pC, …)`
 * takes it: the two Fq2 coordinates of `b` are swapped (`[x1, x0], [y1, y0]`), exactly as
 * snarkjs's `exportSolidityCallData` does.
 *
 * @throws BaseError `ZK_PROOF_INVALID` for a malformed proof.
 *
 * @example
 * ```ts
 * const bytes = encodeGroth16Proof(proof) // '0x…' (512 hex digits)
 * // Solidity: (uint256[2] memory a, uint256[2][2] memory b, uint256[2] memory c) =
 * //   abi.decode(bytes, (uint256[2], uint256[2][2], uint256[2]));
 * ```
 */
export function encodeGroth16Proof(proof: Groth16Proof): Hex {
  const p = parseGroth16Proof(proof)
  const words = [
    p.pi_a[0],
    p.pi_a[1],
    p.pi_b[0][1],
    p.pi_b[0][0],
    p.pi_b[1][1],
    p.pi_b[1][0],
    p.pi_c[0],
    p.pi_c[1],
  ]
  return `0x${words.map(word).join('')}`
}

/**
 * Decodes {@link encodeGroth16Proof}'s 256 bytes back into snarkjs's JSON proof (undoing the
 * swap of `b`'s coordinates). Untrusted input: checks the length, hex, field ranges and that the
 * points are on the curve.
 *
 * @throws BaseError `ZK_PROOF_INVALID`.
 *
 * @example
 * ```ts
 * decodeGroth16Proof(encodeGroth16Proof(proof)) // deep-equals proof
 * ```
 */
export function decodeGroth16Proof(encoded: string): Groth16Proof {
  const hex = encoded.startsWith('0x') || encoded.startsWith('0X') ? encoded.slice(2) : encoded
  if (hex.length !== 8 * WORD || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new BaseError(
      'ZK_PROOF_INVALID',
      `An encoded Groth16 proof is 256 bytes of hex (abi.encode(uint256[2], uint256[2][2], uint256[2])); got ${hex.length / 2} bytes${/^[0-9a-fA-F]*$/.test(hex) ? '' : ' with non-hex characters'}.`,
      { metaMessages: ['Pass the bytes produced by `encodeGroth16Proof`.'] },
    )
  }
  const w = Array.from({ length: 8 }, (_, i) =>
    BigInt(`0x${hex.slice(i * WORD, (i + 1) * WORD)}`).toString(),
  ) as [string, string, string, string, string, string, string, string]
  return parseGroth16Proof({
    protocol: 'groth16',
    curve: 'bn128',
    pi_a: [w[0], w[1], '1'],
    pi_b: [
      [w[3], w[2]],
      [w[5], w[4]],
      ['1', '0'],
    ],
    pi_c: [w[6], w[7], '1'],
  })
}
