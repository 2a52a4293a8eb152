import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { buildZkTestModel } from './buildZkTestModel.ts'
import { loadZkGraph } from './loadZkGraph.ts'
import { measureZkAccuracy } from './measureZkAccuracy.ts'

// y = x · [[1, 0], [0, 1]] on uint8 [1, 2]: the class is the larger input
const identity = loadZkGraph(
  buildZkTestModel({
    nodes: [{ op: 'MatMulInteger', inputs: ['x', 'w'], outputs: ['y'] }],
    inputs: [{ name: 'x', type: 'uint8', shape: [1, 2] }],
    outputs: [{ name: 'y', type: 'int32', shape: [1, 2] }],
    initializers: [{ name: 'w', type: 'int8', dims: [2, 2], values: [1, 0, 0, 1] }],
  }),
)

describe('measureZkAccuracy', () => {
  it('default', () => {
    const inputs = [Uint8Array.of(1, 2), Uint8Array.of(5, 3), Uint8Array.of(9, 0)]
    const result = measureZkAccuracy({
      graph: identity,
      reference: (bytes) => [bytes[1]!, bytes[0]!], // a "float model" that swaps the classes
      inputs,
      labels: [1, 0, 1],
    })
    assert.deepEqual(result, {
      count: 3,
      agreement: 0,
      integerAccuracy: 2 / 3,
      referenceAccuracy: 1 / 3,
      disagreements: [0, 1, 2],
    })
  })

  it('error: no inputs, label count mismatch, unknown input scale', () => {
    assert.throws(
      () => measureZkAccuracy({ graph: identity, reference: identity, inputs: [] }),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
    assert.throws(
      () =>
        measureZkAccuracy({
          graph: identity,
          reference: identity,
          inputs: [Uint8Array.of(1, 2)],
          labels: [],
        }),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
    assert.throws(
      () =>
        measureZkAccuracy({ graph: identity, reference: identity, inputs: [Uint8Array.of(1, 2)] }),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
  })
})
