import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { groth16 } from 'snarkjs'
import { generatorProof } from '../testing/proofFixtures.ts'
import { BN254_BASE_FIELD } from './bn254.ts'
import { decodeGroth16Proof, encodeGroth16Proof } from './encodeGroth16Proof.ts'

describe('encodeGroth16Proof', () => {
  it('default', () => {
    const encoded = encodeGroth16Proof(generatorProof)
    assert.equal(encoded.length, 2 + 512)
    const words = encoded
      .slice(2)
      .match(/.{64}/g)!
      .map((w) => BigInt(`0x${w}`).toString())
    assert.deepEqual(words, [
      generatorProof.pi_a[0],
      generatorProof.pi_a[1],
      generatorProof.pi_b[0][1],
      generatorProof.pi_b[0][0],
      generatorProof.pi_b[1][1],
      generatorProof.pi_b[1][0],
      generatorProof.pi_c[0],
      generatorProof.pi_c[1],
    ])
  })

  it('behavior: word order matches snarkjs exportSolidityCallData', async () => {
    const callData = await groth16.exportSolidityCallData(generatorProof, ['7'])
    const [a, b, c] = JSON.parse(`[${callData}]`) as [string[], string[][], string[]]
    const expected = `0x${[...a, ...b.flat(), ...c].map((h) => h.slice(2)).join('')}`
    assert.equal(encodeGroth16Proof(generatorProof), expected)
  })

  it('behavior: decode inverts encode', () => {
    const encoded = encodeGroth16Proof(generatorProof)
    assert.deepEqual(decodeGroth16Proof(encoded), generatorProof)
    assert.deepEqual(decodeGroth16Proof(encoded.slice(2).toUpperCase()), generatorProof)
  })

  it('error: wrong length, non-hex, out-of-field and off-curve bytes are ZK_PROOF_INVALID', () => {
    const encoded = encodeGroth16Proof(generatorProof)
    const bad = [
      encoded.slice(0, -2),
      `${encoded}00`,
      `${encoded.slice(0, -1)}g`,
      // pi_a.x = q (not below the field)
      `0x${BN254_BASE_FIELD.toString(16).padStart(64, '0')}${encoded.slice(66)}`,
      // one bit of pi_a.y flipped: off the curve
      `${encoded.slice(0, 129)}3${encoded.slice(130)}`,
    ]
    for (const input of bad) {
      assert.throws(
        () => decodeGroth16Proof(input),
        (error) => isBaseError(error, 'ZK_PROOF_INVALID'),
        input,
      )
    }
  })
})
