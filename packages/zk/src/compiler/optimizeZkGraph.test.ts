import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { buildDemoModels, type DemoModels } from '@verity/models'
import { isBaseError } from '@verity/protocol'
import { buildZkTestModel } from './buildZkTestModel.ts'
import { evaluateZkGraph } from './evaluateZkGraph.ts'
import { loadZkGraph } from './loadZkGraph.ts'
import { optimizeZkGraph } from './optimizeZkGraph.ts'

/** uint8 [1,2,6,6] → ConvInteger → Add(round) → Div 8 → Relu → MaxPool 2×2 → Flatten. */
function convReluPool(): Uint8Array {
  const weights = Array.from({ length: 3 * 2 * 9 }, (_, i) => ((i * 37) % 41) - 20)
  return buildZkTestModel({
    nodes: [
      { op: 'ConvInteger', inputs: ['x', 'w'], outputs: ['c'] },
      { op: 'Add', inputs: ['c', 'half'], outputs: ['r'] },
      { op: 'Div', inputs: ['r', 'eight'], outputs: ['d'] },
      { op: 'Relu', inputs: ['d'], outputs: ['a'] },
      {
        op: 'MaxPool',
        inputs: ['a'],
        outputs: ['p'],
        attributes: { kernel_shape: [2, 2], strides: [2, 2] },
      },
      { op: 'Flatten', inputs: ['p'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'uint8', shape: [1, 2, 6, 6] }],
    outputs: [{ name: 'y', type: 'int32', shape: [1, 12] }],
    initializers: [
      { name: 'w', type: 'int8', dims: [3, 2, 3, 3], values: weights },
      { name: 'half', type: 'int32', dims: [], values: [4] },
      { name: 'eight', type: 'int32', dims: [], values: [8] },
    ],
  })
}

function randomBytes(length: number, seed: number): Uint8Array {
  let state = seed
  return Uint8Array.from({ length }, () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0
    return state >>> 24
  })
}

describe('optimizeZkGraph', () => {
  let demo: DemoModels
  before(async () => {
    demo = await buildDemoModels({ trainCount: 200, testCount: 20, epochs: 1 })
  })

  it('default', () => {
    const loaded = loadZkGraph(demo.int8Model)
    const optimized = optimizeZkGraph(loaded)
    assert.deepEqual(
      optimized.ops.map((op) => op.op),
      ['reshape', 'matmul', 'requantize', 'matmul'],
    )
    const requantize = optimized.ops[2]!
    assert.ok(requantize.op === 'requantize')
    assert.equal(requantize.rounding, 'floor', 'trunc = floor once clamped at 0')
    assert.ok(
      requantize.min.every((min) => min === 0) && requantize.max.every((max) => max === 255),
    )
    for (let seed = 1; seed <= 30; seed++) {
      const image = randomBytes(784, seed)
      assert.deepEqual(
        evaluateZkGraph(optimized, image).output,
        evaluateZkGraph(loaded, image).output,
      )
    }
  })

  it('behavior: ReLU + requantize move behind the max pool, with the same results', () => {
    const loaded = loadZkGraph(convReluPool())
    const optimized = optimizeZkGraph(loaded)
    assert.deepEqual(
      optimized.ops.map((op) => op.op),
      ['conv', 'maxPool', 'requantize', 'reshape'],
    )
    for (let seed = 1; seed <= 30; seed++) {
      const input = randomBytes(72, seed)
      assert.deepEqual(
        evaluateZkGraph(optimized, input).output,
        evaluateZkGraph(loaded, input).output,
      )
    }
  })

  it('error: a cast that could lose values, or a float graph', () => {
    const lossy = buildZkTestModel({
      nodes: [
        { op: 'MatMulInteger', inputs: ['x', 'w'], outputs: ['m'] },
        { op: 'Cast', inputs: ['m'], outputs: ['y'], attributes: { to: 2 } },
      ],
      inputs: [{ name: 'x', type: 'uint8', shape: [1, 2] }],
      outputs: [{ name: 'y', type: 'uint8', shape: [1, 2] }],
      initializers: [{ name: 'w', type: 'int8', dims: [2, 2], values: [1, 2, 3, 4] }],
    })
    assert.throws(
      () => optimizeZkGraph(loadZkGraph(lossy)),
      (error) => isBaseError(error, 'ZK_VALUE_RANGE_TOO_LARGE'),
    )
    assert.throws(
      () => optimizeZkGraph(loadZkGraph(demo.floatModel)),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
  })
})
