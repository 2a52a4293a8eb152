import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { decodeAbiParameters, encodeAbiParameters, type Hex, keccak256, toHex } from 'viem'
import { encodeZkFulfillment } from './encodeZkFulfillment.ts'

const words = [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n] as const
const groth16Proof: Hex = encodeAbiParameters(
  [{ type: 'uint256[2]' }, { type: 'uint256[2][2]' }, { type: 'uint256[2]' }],
  [
    [words[0], words[1]],
    [
      [words[2], words[3]],
      [words[4], words[5]],
    ],
    [words[6], words[7]],
  ],
)
const input = Uint8Array.from({ length: 784 }, (_, i) => (i * 7) & 0xff)

test('default: output and proof are the ABI tuples ZkModelVerifier decodes', () => {
  const outputs = Int32Array.of(7670, -3698, 0, -1, 2 ** 31 - 1, -(2 ** 31))
  const { output, outputHash, proof } = encodeZkFulfillment({ groth16Proof, input, outputs })
  const expected = Array.from(outputs, BigInt)
  assert.deepEqual(decodeAbiParameters([{ type: 'int256[]' }], output), [expected])
  assert.equal(outputHash, keccak256(output))
  const [a, b, c, bytes, decoded] = decodeAbiParameters(
    [
      { type: 'uint256[2]' },
      { type: 'uint256[2][2]' },
      { type: 'uint256[2]' },
      { type: 'bytes' },
      { type: 'int256[]' },
    ],
    proof,
  )
  assert.deepEqual([...a, ...b.flat(), ...c], [...words])
  assert.equal(bytes, toHex(input))
  assert.deepEqual(decoded, expected)
  // bigints, numbers and a hex input give the same bytes
  assert.deepEqual(
    encodeZkFulfillment({ groth16Proof, input: toHex(input), outputs: [...expected] }),
    { output, outputHash, proof },
  )
})

test('error: a proof that is not 256 bytes of hex, and outputs that are not integers', () => {
  for (const bad of ['0x', `${groth16Proof}00`, groth16Proof.slice(0, -2), 'zz'] as Hex[])
    assert.throws(
      () => encodeZkFulfillment({ groth16Proof: bad, input, outputs: [1] }),
      (error: unknown) => isBaseError(error, 'ZK_PROOF_INVALID'),
    )
  for (const bad of [1.5, Number.NaN, 2 ** 53])
    assert.throws(
      () => encodeZkFulfillment({ groth16Proof, input, outputs: [bad] }),
      (error: unknown) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
})
