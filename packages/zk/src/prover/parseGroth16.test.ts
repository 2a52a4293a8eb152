import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { generatorProof } from '../testing/proofFixtures.ts'
import { BN254_BASE_FIELD, BN254_SCALAR_FIELD } from './bn254.ts'
import {
  parseGroth16Proof,
  parseGroth16VerificationKey,
  parsePublicSignals,
  publicSignalsToJson,
} from './parseGroth16.ts'

const g2 = generatorProof.pi_b
const vkey = {
  protocol: 'groth16',
  curve: 'bn128',
  nPublic: 1,
  vk_alpha_1: ['1', '2', '1'],
  vk_beta_2: g2,
  vk_gamma_2: g2,
  vk_delta_2: g2,
  IC: [
    ['1', '2', '1'],
    ['1', '2', '1'],
  ],
}

describe('parseGroth16', () => {
  it('default', () => {
    assert.deepEqual(parseGroth16Proof(JSON.parse(JSON.stringify(generatorProof))), generatorProof)
    assert.equal(parseGroth16VerificationKey(vkey).nPublic, 1)
    assert.deepEqual(parsePublicSignals(['0', '42', 7n], 3), [0n, 42n, 7n])
    assert.deepEqual(publicSignalsToJson([1n, BN254_SCALAR_FIELD - 1n]), [
      '1',
      (BN254_SCALAR_FIELD - 1n).toString(),
    ])
  })

  it('error: malformed proofs are ZK_PROOF_INVALID, never a crash', () => {
    const cases: unknown[] = [
      null,
      'proof',
      [],
      {},
      { ...generatorProof, protocol: 'plonk' },
      { ...generatorProof, curve: 'bls12381' },
      { ...generatorProof, pi_a: ['1', '2'] },
      { ...generatorProof, pi_a: [1, 2, 1] },
      { ...generatorProof, pi_a: ['0x1', '2', '1'] },
      { ...generatorProof, pi_a: ['01', '2', '1'] },
      { ...generatorProof, pi_a: ['1', '3', '1'] },
      { ...generatorProof, pi_a: ['1', '2', '0'] },
      { ...generatorProof, pi_a: [BN254_BASE_FIELD.toString(), '2', '1'] },
      { ...generatorProof, pi_a: ['9'.repeat(5000), '2', '1'] },
      { ...generatorProof, pi_b: [g2[0], g2[0], g2[2]] },
      { ...generatorProof, pi_b: [g2[0], g2[1]] },
      { ...generatorProof, pi_c: { 0: '1', 1: '2', 2: '1' } },
    ]
    for (const value of cases) {
      assert.throws(
        () => parseGroth16Proof(value),
        (error) => isBaseError(error, 'ZK_PROOF_INVALID'),
        JSON.stringify(value)?.slice(0, 100),
      )
    }
  })

  it('error: malformed verification keys are ZK_VKEY_INVALID', () => {
    const cases: unknown[] = [
      undefined,
      { ...vkey, protocol: 'plonk' },
      { ...vkey, curve: 'bls12381' },
      { ...vkey, nPublic: 2 },
      { ...vkey, nPublic: -1 },
      { ...vkey, nPublic: '1' },
      { ...vkey, IC: [['1', '2', '1']] },
      { ...vkey, vk_alpha_1: ['1', '3', '1'] },
      { ...vkey, vk_delta_2: [g2[1], g2[0], g2[2]] },
      { ...vkey, vk_gamma_2: 'x' },
    ]
    for (const value of cases) {
      assert.throws(
        () => parseGroth16VerificationKey(value),
        (error) => isBaseError(error, 'ZK_VKEY_INVALID'),
        JSON.stringify(value)?.slice(0, 100),
      )
    }
  })

  it('error: bad public signals are ZK_PROOF_INVALID', () => {
    const cases: [unknown, number | undefined][] = [
      ['1', undefined],
      [['1', '2'], 3],
      [[BN254_SCALAR_FIELD.toString()], undefined],
      [[BN254_SCALAR_FIELD], undefined],
      [[-1n], undefined],
      [['-1'], undefined],
      [[1], undefined],
      [['1.5'], undefined],
    ]
    for (const [value, expected] of cases) {
      assert.throws(
        () => parsePublicSignals(value, expected),
        (error) => isBaseError(error, 'ZK_PROOF_INVALID'),
        String(value),
      )
    }
  })
})
