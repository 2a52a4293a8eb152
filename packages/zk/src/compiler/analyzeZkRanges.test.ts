import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { analyzeZkRanges } from './analyzeZkRanges.ts'
import { buildZkTestModel } from './buildZkTestModel.ts'
import { loadZkGraph } from './loadZkGraph.ts'

function matmulModel(weights: number[], type: 'int8' | 'int32' = 'int8'): Uint8Array {
  return buildZkTestModel({
    nodes: [
      { op: 'MatMulInteger', inputs: ['x', 'w'], outputs: ['m'] },
      { op: 'Relu', inputs: ['m'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'int8', shape: [1, 2] }],
    outputs: [{ name: 'y', type: 'int32', shape: [1, 2] }],
    initializers: [{ name: 'w', type, dims: [2, 2], values: weights }],
  })
}

describe('analyzeZkRanges', () => {
  it('default', () => {
    const graph = loadZkGraph(matmulModel([1, -2, 3, 4]))
    const ranges = analyzeZkRanges(graph)
    assert.deepEqual(Array.from(ranges.get('x')!.min), [-128, -128])
    const product = ranges.get('m')!
    // column 0: 1·x0 + 3·x1, column 1: −2·x0 + 4·x1 over x ∈ [−128, 127]
    assert.deepEqual(Array.from(product.min), [-512, -766])
    assert.deepEqual(Array.from(product.max), [508, 764])
    assert.deepEqual(Array.from(ranges.get('y')!.min), [0, 0])
  })

  it('error: values that may exceed 2^53', () => {
    const graph = loadZkGraph(
      matmulModel([2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1], 'int32'),
    )
    assert.doesNotThrow(() => analyzeZkRanges(graph))
    const huge = {
      ...graph,
      ops: graph.ops.map((op) =>
        op.op === 'matmul' ? { ...op, weights: op.weights.map(() => 2 ** 50) } : op,
      ),
    }
    assert.throws(
      () => analyzeZkRanges(huge),
      (error) => isBaseError(error, 'ZK_VALUE_RANGE_TOO_LARGE'),
    )
  })
})
