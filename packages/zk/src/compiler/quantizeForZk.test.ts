import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { buildDemoModels, type DemoModels, generateDigits } from '@verity/models'
import { isBaseError } from '@verity/protocol'
import { evaluateZkGraph } from './evaluateZkGraph.ts'
import { loadZkGraph } from './loadZkGraph.ts'
import { measureZkAccuracy } from './measureZkAccuracy.ts'
import { quantizeForZk } from './quantizeForZk.ts'
import { quantizeZkInput } from './quantizeZkInput.ts'
import type { ZkGraph } from './zkGraph.ts'

describe('quantizeForZk', () => {
  let demo: DemoModels
  let floatGraph: ZkGraph
  let calibration: Uint8Array[]
  before(async () => {
    demo = await buildDemoModels({ trainCount: 1000, testCount: 200, epochs: 2 })
    floatGraph = loadZkGraph(demo.floatModel)
    calibration = generateDigits({ count: 256, seed: demo.recipe.data.trainSeed }).images
  })

  it('default', () => {
    const graph = quantizeForZk(floatGraph, calibration)
    assert.equal(graph.numeric, 'integer')
    assert.deepEqual(graph.input, {
      name: 'image',
      shape: [1, 1, 28, 28],
      dtype: 'uint8',
      scale: 1 / 255,
      zeroPoint: 0,
    })
    const [, fc1, requantize, fc2] = graph.ops
    assert.ok(fc1?.op === 'matmul' && fc2?.op === 'matmul' && requantize?.op === 'requantize')
    assert.ok(fc1.weights.every((w) => Number.isInteger(w) && Math.abs(w) <= 127))
    assert.ok(fc2.weights.every((w) => Number.isInteger(w) && Math.abs(w) <= 127))
    // per-channel layer 1: every hidden unit uses its full int8 range
    for (let j = 0; j < fc1.outFeatures; j++) {
      let max = 0
      for (let i = 0; i < fc1.inFeatures; i++)
        max = Math.max(max, Math.abs(fc1.weights[i * fc1.outFeatures + j]!))
      assert.equal(max, 127)
    }
    // ReLU fused into a rounding shift to uint8
    assert.ok(requantize.min.every((v) => v === 0) && requantize.max.every((v) => v === 255))
    assert.ok(requantize.shift.every((s, i) => requantize.offset[i] === (s > 0 ? 2 ** (s - 1) : 0)))
    assert.ok(
      graph.output.scale && graph.output.scale > 0,
      'one output scale (per-tensor last layer)',
    )
  })

  it('behavior: float calibration chooses the input quantization; quantizeZkInput applies it', () => {
    const floats = calibration.map((image) => Float32Array.from(image, (byte) => byte / 255 - 0.25))
    const graph = quantizeForZk(floatGraph, floats)
    assert.equal(graph.input.zeroPoint, 64)
    assert.ok(Math.abs(graph.input.scale! - 1 / 255) < 1e-6)
    const bytes = quantizeZkInput(graph, floats[0]!)
    assert.equal(bytes.length, 784)
    // x = pixel / 255 − 0.25 = (pixel + 0.25 − 64) / 255: the byte is the pixel again
    assert.ok(bytes.every((byte, i) => Math.abs(byte - calibration[0]![i]!) <= 1))
    const result = measureZkAccuracy({
      graph,
      reference: floatGraph,
      inputs: calibration.slice(0, 100).map((image) =>
        quantizeZkInput(
          graph,
          Float32Array.from(image, (byte) => byte / 255 - 0.25),
        ),
      ),
    })
    assert.equal(result.count, 100)
    assert.ok(result.agreement >= 0.95, `agreement ${result.agreement}`)
  })

  it('behavior: fewer weight bits cost accuracy', () => {
    const test = generateDigits({ count: 200, seed: demo.recipe.data.testSeed })
    const eight = quantizeForZk(floatGraph, calibration)
    const three = quantizeForZk(floatGraph, calibration, { weightBits: 3 })
    const fc1 = three.ops[1]!
    assert.ok(fc1.op === 'matmul' && fc1.weights.every((w) => Math.abs(w) <= 3))
    const agreement = (graph: ZkGraph) =>
      measureZkAccuracy({ graph, reference: floatGraph, inputs: test.images }).agreement
    assert.ok(agreement(eight) > agreement(three))
    assert.ok(evaluateZkGraph(eight, test.images[0]!).output.every(Number.isInteger))
  })

  it('error: missing or mis-shaped calibration, integer graphs, bad options', () => {
    for (const bad of [[], [new Uint8Array(10)], [new Uint8Array(784), new Float32Array(784)]])
      assert.throws(
        () => quantizeForZk(floatGraph, bad as Uint8Array[]),
        (error) => isBaseError(error, 'ZK_CALIBRATION_INVALID'),
      )
    assert.throws(
      () => quantizeForZk(loadZkGraph(demo.int8Model), calibration),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
    assert.throws(
      () => quantizeForZk(floatGraph, calibration, { weightBits: 40 }),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
  })
})
