import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { gunzipSync } from 'node:zlib'
import onnxProto from 'onnx-proto'
import { InferenceSession, Tensor } from 'onnxruntime-node'
import { buildZkTestModel } from './buildZkTestModel.ts'
import { evaluateZkGraph } from './evaluateZkGraph.ts'
import { loadZkGraph } from './loadZkGraph.ts'
import { optimizeZkGraph } from './optimizeZkGraph.ts'
import type { ZkGraph, ZkRequantizeOp } from './zkGraph.ts'

const mnistModel = '/work/shared/assets/onnx/onnx-model-zoo-mnist/mnist-12-int8.onnx'
const mnistImages = '/work/shared/assets/mnist/t10k-images-idx3-ubyte.gz'

/** Seeded uniform integers in [0, n) (LCG). */
function integers(seed: number): (n: number) => number {
  let state = seed >>> 0
  return (n) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0
    return (state >>> 8) % n
  }
}

/** Runs a model with one uint8 input on onnxruntime: the named outputs, flattened. */
async function runOnnxruntime(
  bytes: Uint8Array,
  inputs: readonly Uint8Array[],
  shape: number[],
  outputs: readonly string[],
): Promise<number[][][]> {
  const session = await InferenceSession.create(bytes)
  try {
    const results: number[][][] = []
    for (const input of inputs) {
      const run = await session.run({ [session.inputNames[0]!]: new Tensor('uint8', input, shape) })
      results.push(outputs.map((name) => Array.from(run[name]!.data as Uint8Array)))
    }
    return results
  } finally {
    await session.release()
  }
}

/** Counts the elements where the integer evaluator differs from onnxruntime on the given values. */
async function mismatches(
  bytes: Uint8Array,
  inputs: readonly Uint8Array[],
  shape: number[],
): Promise<{ differing: number; total: number }> {
  const graph = loadZkGraph(bytes)
  const ort = await runOnnxruntime(bytes, inputs, shape, [graph.output.onnxName])
  let differing = 0
  let total = 0
  inputs.forEach((input, n) => {
    const ours = evaluateZkGraph(graph, input).output
    const theirs = ort[n]![0]!
    total += theirs.length
    for (let i = 0; i < theirs.length; i++) if (ours[i] !== theirs[i]) differing++
  })
  return { differing, total }
}

// Scales whose rescale factor is a power of two: a large share of the outputs are exact ties
// x + 1/2, where half up and onnxruntime's half to even differ on every other one.
function tieMatMul(): Uint8Array {
  const next = integers(3)
  return buildZkTestModel({
    nodes: [
      {
        op: 'QLinearMatMul',
        inputs: ['a', 'as', 'az', 'b', 'bs', 'bz', 'ys', 'yz'],
        outputs: ['y'],
      },
    ],
    inputs: [{ name: 'a', type: 'uint8', shape: [1, 16] }],
    outputs: [{ name: 'y', type: 'uint8', shape: [1, 8] }],
    initializers: [
      { name: 'as', type: 'float32', dims: [], values: [0.5] },
      { name: 'az', type: 'uint8', dims: [], values: [7] },
      {
        name: 'b',
        type: 'int8',
        dims: [16, 8],
        values: Array.from({ length: 128 }, () => next(7) - 3),
      },
      // per output column: factors 1/8, 1/4, 1/16, 1/2 (and again)
      {
        name: 'bs',
        type: 'float32',
        dims: [8],
        values: [0.25, 0.5, 0.125, 1, 0.25, 0.5, 0.125, 1],
      },
      { name: 'bz', type: 'int8', dims: [8], values: [0, 0, 0, 0, 0, 0, 0, 0] },
      { name: 'ys', type: 'float32', dims: [], values: [1] },
      { name: 'yz', type: 'uint8', dims: [], values: [129] },
    ],
  })
}

// DequantizeLinear (scale 1/2) → QuantizeLinear (scale 1, odd zero point): x/2 for every byte
function tieQuantize(): Uint8Array {
  return buildZkTestModel({
    nodes: [
      { op: 'DequantizeLinear', inputs: ['x', 'xs', 'xz'], outputs: ['d'] },
      { op: 'QuantizeLinear', inputs: ['d', 'ys', 'yz'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'uint8', shape: [1, 256] }],
    outputs: [{ name: 'y', type: 'uint8', shape: [1, 256] }],
    initializers: [
      { name: 'xs', type: 'float32', dims: [], values: [0.5] },
      { name: 'xz', type: 'uint8', dims: [], values: [10] },
      { name: 'ys', type: 'float32', dims: [], values: [1] },
      { name: 'yz', type: 'uint8', dims: [], values: [5] },
    ],
  })
}

// QLinearAdd of a constant: (a − 3)/2 + (b − 1)/4 + 3, ties at x.5
function tieAdd(): Uint8Array {
  const next = integers(9)
  return buildZkTestModel({
    nodes: [
      {
        op: 'QLinearAdd',
        domain: 'com.microsoft',
        inputs: ['a', 'as', 'az', 'b', 'bs', 'bz', 'cs', 'cz'],
        outputs: ['c'],
      },
    ],
    inputs: [{ name: 'a', type: 'uint8', shape: [1, 256] }],
    outputs: [{ name: 'c', type: 'uint8', shape: [1, 256] }],
    initializers: [
      { name: 'as', type: 'float32', dims: [], values: [0.5] },
      { name: 'az', type: 'uint8', dims: [], values: [3] },
      {
        name: 'b',
        type: 'uint8',
        dims: [1, 256],
        values: Array.from({ length: 256 }, () => next(40)),
      },
      { name: 'bs', type: 'float32', dims: [], values: [0.25] },
      { name: 'bz', type: 'uint8', dims: [], values: [1] },
      { name: 'cs', type: 'float32', dims: [], values: [1] },
      { name: 'cz', type: 'uint8', dims: [], values: [3] },
    ],
    opsets: { '': 13, 'com.microsoft': 1 },
  })
}

const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i)

describe('loadZkGraph requantization against onnxruntime', () => {
  it('default', async () => {
    // QLinearMatMul with power-of-two factors and an odd output zero point
    const next = integers(5)
    const inputs = Array.from({ length: 64 }, () =>
      Uint8Array.from({ length: 16 }, () => next(256)),
    )
    const graph = loadZkGraph(tieMatMul())
    const requantize = graph.ops.find((op) => op.op === 'requantize')
    assert.equal(requantize?.op === 'requantize' && requantize.rounding, 'halfEven')
    assert.deepEqual(await mismatches(tieMatMul(), inputs, [1, 16]), { differing: 0, total: 512 })
  })

  it('behavior: QuantizeLinear and QLinearAdd ties round like onnxruntime', async () => {
    assert.deepEqual(await mismatches(tieQuantize(), [everyByte], [1, 256]), {
      differing: 0,
      total: 256,
    })
    assert.deepEqual(await mismatches(tieAdd(), [everyByte], [1, 256]), {
      differing: 0,
      total: 256,
    })
  })

  it('behavior: half up, or ties to the other parity, would differ from onnxruntime', async () => {
    const next = integers(5)
    const matMulInputs = Array.from({ length: 64 }, () =>
      Uint8Array.from({ length: 16 }, () => next(256)),
    )
    const cases: [Uint8Array, Uint8Array[], number[]][] = [
      [tieMatMul(), matMulInputs, [1, 16]],
      [tieQuantize(), [everyByte], [1, 256]],
      [tieAdd(), [everyByte], [1, 256]],
    ]
    for (const [bytes, inputs, shape] of cases) {
      const graph = loadZkGraph(bytes)
      const variant = (change: (op: ZkRequantizeOp) => ZkRequantizeOp): ZkGraph => ({
        ...graph,
        ops: graph.ops.map((op) => (op.op === 'requantize' ? change(op) : op)),
      })
      const halfUp = variant((op) => ({ ...op, rounding: 'floor' }))
      // zero point + 1: every tie goes to the other neighbour
      const otherParity = variant((op) => ({
        ...op,
        zeroPoint: (op.zeroPoint ?? new Float64Array(op.offset.length)).map((z) => z + 1),
      }))
      const ort = await runOnnxruntime(bytes, inputs, shape, [graph.output.onnxName])
      for (const wrong of [halfUp, otherParity]) {
        let differing = 0
        inputs.forEach((input, n) => {
          const ours = evaluateZkGraph(wrong, input).output
          ort[n]![0]!.forEach((value, i) => {
            if (value !== ours[i]) differing++
          })
        })
        assert.ok(differing > 0, `${graph.sourceOperators.join(', ')}: ${differing} differ`)
      }
    }
  })

  it('behavior: mnist-12-int8 on 1000 MNIST test images equals onnxruntime element for element', async (t) => {
    if (!existsSync(mnistModel) || !existsSync(mnistImages))
      return t.skip('/work/shared/assets absent: mnist-12-int8 or the MNIST test images')
    const bytes = readFileSync(mnistModel)
    const raw = gunzipSync(readFileSync(mnistImages))
    const images = Array.from(
      { length: 1000 },
      (_, i) => new Uint8Array(raw.subarray(16 + i * 784, 16 + (i + 1) * 784)),
    )
    // every requantized tensor is also a model output: QLinearConv ×2, QLinearMatMul, QLinearAdd
    const graph = loadZkGraph(bytes)
    const optimized = optimizeZkGraph(graph)
    const model = onnxProto.onnx.ModelProto.decode(bytes)
    const names = model
      .graph!.node!.filter((node) => node.opType?.startsWith('QLinear'))
      .map((node) => node.output![0]!)
    assert.equal(names.length, 4)
    for (const name of names)
      model.graph!.output!.push({ name, type: { tensorType: { elemType: 2 } } })
    const session = await InferenceSession.create(onnxProto.onnx.ModelProto.encode(model).finish())
    let elements = 0
    const differing: string[] = []
    try {
      for (const [n, image] of images.entries()) {
        const results = await session.run({
          Input3: new Tensor('float32', Float32Array.from(image), [1, 1, 28, 28]),
        })
        const { values, output } = evaluateZkGraph(graph, image)
        for (const name of names) {
          const theirs = results[name]!.data as Uint8Array
          const ours = values.get(name)!
          elements += theirs.length
          for (let i = 0; i < theirs.length; i++)
            if (ours[i] !== theirs[i]) differing.push(`image ${n} ${name}[${i}]`)
        }
        const logits = results.Plus214_Output_0!.data as Float32Array
        const scaled = Array.from(logits, (value) => Math.round(value / graph.output.scale!))
        assert.deepEqual(Array.from(output), scaled, `image ${n}: logits`)
        assert.deepEqual(Array.from(evaluateZkGraph(optimized, image).output), scaled)
      }
    } finally {
      await session.release()
    }
    console.log(`  mnist-12-int8: ${elements} requantized elements on ${images.length} images`)
    assert.deepEqual(differing, [])
  })
})
