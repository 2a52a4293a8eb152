import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { isBaseError } from './errors.ts'
import { bn254ScalarField, verifyGroth16 } from './verifyGroth16.ts'

// A real proof of the zk package's tiny test circuit (4 private bytes; public out[2],
// inputCommitment, modelCommitment), made with circom2 + snarkjs on pot14 and checked there.
type Fixture = Parameters<typeof verifyGroth16>[0] & {
  publicSignals: string[]
  proof: { pi_a: string[]; pi_b: string[][]; pi_c: string[] }
  verificationKey: { IC: string[][]; nPublic: number }
}
const fixture = JSON.parse(
  readFileSync(new URL('./testing/groth16Fixture.json', import.meta.url), 'utf8'),
) as Fixture
const copy = (): Fixture => structuredClone(fixture)

test('default: a snarkjs Groth16 proof verifies with the pairing check here', () => {
  assert.equal(verifyGroth16(fixture), true)
  assert.deepEqual(fixture.publicSignals.slice(2, 3).length, 1)
})

test('behavior: any changed public signal, proof coordinate or key point fails', () => {
  for (let index = 0; index < fixture.publicSignals.length; index++) {
    const changed = copy()
    changed.publicSignals[index] = String(
      (BigInt(changed.publicSignals[index]!) + 1n) % bn254ScalarField,
    )
    assert.equal(verifyGroth16(changed), false, `signal ${index}`)
  }
  // swapped proof points: A ↔ C
  const swapped = copy()
  ;[swapped.proof.pi_a, swapped.proof.pi_c] = [swapped.proof.pi_c, swapped.proof.pi_a]
  assert.equal(verifyGroth16(swapped), false)
  // the negated A (y → p − y) is on the curve but wrong
  const negated = copy()
  const p = 21888242871839275222246405745257275088696311157297823662689037894645226208583n
  negated.proof.pi_a[1] = String(p - BigInt(negated.proof.pi_a[1]!))
  assert.equal(verifyGroth16(negated), false)
  // another circuit's key (IC points reordered)
  const otherKey = copy()
  otherKey.verificationKey.IC.reverse()
  assert.equal(verifyGroth16(otherKey), false)
})

test('error: malformed proofs, keys and signals are typed errors, not crashes', () => {
  const cases: [Fixture, string][] = []
  const offCurve = copy()
  offCurve.proof.pi_a[0] = String(BigInt(offCurve.proof.pi_a[0]!) + 1n)
  cases.push([offCurve, 'ZK_PROOF_INVALID'])
  const wrongCount = copy()
  wrongCount.publicSignals.pop()
  cases.push([wrongCount, 'ZK_PROOF_INVALID'])
  const outOfField = copy()
  outOfField.publicSignals[0] = String(bn254ScalarField)
  cases.push([outOfField, 'ZK_PROOF_INVALID'])
  const notDecimal = copy()
  notDecimal.publicSignals[0] = '0x12'
  cases.push([notDecimal, 'ZK_PROOF_INVALID'])
  const badKey = copy()
  badKey.verificationKey.nPublic = 3
  cases.push([badKey, 'ZK_VKEY_INVALID'])
  cases.push([{ ...copy(), proof: 'nope' } as unknown as Fixture, 'ZK_PROOF_INVALID'])
  cases.push([{ ...copy(), verificationKey: null } as unknown as Fixture, 'ZK_VKEY_INVALID'])
  for (const [parameters, code] of cases)
    assert.throws(
      () => verifyGroth16(parameters),
      (error: unknown) => isBaseError(error) && error.code === code,
    )
})
