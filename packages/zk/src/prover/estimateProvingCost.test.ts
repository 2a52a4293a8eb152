import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { type CompileCircomReturnType, compileCircom } from '../circom/compileCircom.ts'
import { readR1csHeader } from '../circom/readR1csHeader.ts'
import { chainCircuitSource } from '../testing/tinyCircuit.ts'
import { assertWithinBudget } from './assertWithinBudget.ts'
import { estimateProvingCost, PROVING_COST_MODEL } from './estimateProvingCost.ts'

describe('estimateProvingCost', () => {
  let small: CompileCircomReturnType
  let large: CompileCircomReturnType

  before(async () => {
    small = await compileCircom({ source: chainCircuitSource(100), name: 'chain' })
    large = await compileCircom({ source: chainCircuitSource(16_400), name: 'chain' })
  })

  it('default', () => {
    const estimate = estimateProvingCost(small.r1cs)
    assert.equal(estimate.constraints, 100)
    assert.equal(estimate.wires, small.wires)
    assert.equal(estimate.publicSignals, 1)
    assert.equal(estimate.ptauPower, 7) // 101 < 128
    const size = estimate.constraints + estimate.wires
    assert.equal(
      estimate.proveMs,
      Math.round(PROVING_COST_MODEL.proveMsBase + PROVING_COST_MODEL.proveMsPerSizeUnit * size),
    )
    assert.ok(estimate.peakMemoryBytes > PROVING_COST_MODEL.memoryBytesBase)
    assert.deepEqual(estimateProvingCost(readR1csHeader(small.r1cs)), estimate)
  })

  it('behavior: cost grows with the circuit and the ptau power follows the size', () => {
    const a = estimateProvingCost(small.r1cs)
    const b = estimateProvingCost(large.r1cs)
    assert.equal(b.constraints, 16_400)
    assert.equal(b.ptauPower, 15) // 16_401 > 2^14
    assert.ok(b.proveMs > a.proveMs && b.peakMemoryBytes > a.peakMemoryBytes)
    assert.equal(
      estimateProvingCost({ ...readR1csHeader(small.r1cs), constraints: 16_382, publicOutputs: 1 })
        .ptauPower,
      14,
    )
    assert.equal(
      estimateProvingCost({ ...readR1csHeader(small.r1cs), constraints: 16_383, publicOutputs: 1 })
        .ptauPower,
      15,
    )
  })

  it('behavior: a circuit within budget passes', () => {
    assertWithinBudget(estimateProvingCost(small.r1cs), {
      maxConstraints: 1000,
      maxMemoryBytes: 2 ** 32,
      maxProveMs: 60_000,
    })
    assertWithinBudget(estimateProvingCost(large.r1cs), {})
  })

  it('error: ZK_BUDGET_EXCEEDED lists every broken limit', () => {
    assert.throws(
      () =>
        assertWithinBudget(estimateProvingCost(large.r1cs), {
          maxConstraints: 10_000,
          maxMemoryBytes: 100 * 1024 * 1024,
          maxProveMs: 100,
        }),
      (error) => {
        assert.ok(isBaseError(error, 'ZK_BUDGET_EXCEEDED'))
        assert.match(error.shortMessage, /16400 constraints > 10000 allowed/)
        assert.match(error.shortMessage, /MB peak memory > 100 MB allowed/)
        assert.match(error.shortMessage, /ms to prove > 100 ms allowed/)
        return true
      },
    )
    assert.throws(
      () => assertWithinBudget(estimateProvingCost(small.r1cs), { maxConstraints: 99 }),
      (error) => isBaseError(error, 'ZK_BUDGET_EXCEEDED'),
    )
  })

  it('error: bytes that are not an r1cs are ZK_CIRCUIT_INVALID', () => {
    assert.throws(
      () => estimateProvingCost(new Uint8Array(64)),
      (error) => isBaseError(error, 'ZK_CIRCUIT_INVALID'),
    )
  })
})
