import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { calculateWitness } from '../circom/calculateWitness.ts'
import { type CompileCircomReturnType, compileCircom } from '../circom/compileCircom.ts'
import { computeInputCommitment } from '../commitment/computeInputCommitment.ts'
import { fromField } from '../commitment/toField.ts'
import { buildZkTestModel } from './buildZkTestModel.ts'
import { type CompileZkModelReturnType, compileZkModel } from './compileZkModel.ts'
import { emitCircom } from './emitCircom.ts'
import { evaluateZkGraph } from './evaluateZkGraph.ts'
import { loadZkGraph } from './loadZkGraph.ts'

/** Seeded uniform numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/** Float CNN: Conv 4×3×3 (pad 1) → Relu → MaxPool 2×2 → Flatten → Gemm 64→3. */
function tinyFloatCnn(): Uint8Array {
  const next = random(11)
  const weights = Array.from({ length: 4 * 9 }, () => next() - 0.5)
  const bias = Array.from({ length: 4 }, () => (next() - 0.5) * 0.2)
  const dense = Array.from({ length: 3 * 64 }, () => next() - 0.5)
  const denseBias = Array.from({ length: 3 }, () => (next() - 0.5) * 0.2)
  return buildZkTestModel({
    nodes: [
      {
        op: 'Conv',
        inputs: ['x', 'w', 'b'],
        outputs: ['c'],
        attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
      },
      { op: 'Relu', inputs: ['c'], outputs: ['r'] },
      {
        op: 'MaxPool',
        inputs: ['r'],
        outputs: ['p'],
        attributes: { kernel_shape: [2, 2], strides: [2, 2] },
      },
      { op: 'Flatten', inputs: ['p'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'd', 'db'], outputs: ['y'], attributes: { transB: 1 } },
    ],
    inputs: [{ name: 'x', type: 'float32', shape: ['batch', 1, 8, 8] }],
    outputs: [{ name: 'y', type: 'float32', shape: ['batch', 3] }],
    initializers: [
      { name: 'w', type: 'float32', dims: [4, 1, 3, 3], values: weights },
      { name: 'b', type: 'float32', dims: [4], values: bias },
      { name: 'd', type: 'float32', dims: [3, 64], values: dense },
      { name: 'db', type: 'float32', dims: [3], values: denseBias },
    ],
  })
}

/**
 * Integer graph over an int8 input exercising the other gadgets: ConvInteger with zero points and
 * padding, Div by 4 (rounds toward zero on negatives), Clip(−20, 37), MaxPool 3×3 with padding and
 * ceil mode, Cast int8, MatMulInteger, Add.
 */
function tinyIntegerGraph(): Uint8Array {
  const next = random(23)
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1))
  return buildZkTestModel({
    nodes: [
      {
        op: 'ConvInteger',
        inputs: ['x', 'w', 'xz', 'wz'],
        outputs: ['c'],
        attributes: { pads: [1, 1, 1, 1] },
      },
      { op: 'Div', inputs: ['c', 'four'], outputs: ['d'] },
      { op: 'Clip', inputs: ['d', 'lo', 'hi'], outputs: ['k'] },
      {
        op: 'MaxPool',
        inputs: ['k'],
        outputs: ['p'],
        attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 0, 0], ceil_mode: 1 },
      },
      { op: 'Cast', inputs: ['p'], outputs: ['q'], attributes: { to: 3 } },
      { op: 'Flatten', inputs: ['q'], outputs: ['f'] },
      { op: 'MatMulInteger', inputs: ['f', 'm'], outputs: ['mm'] },
      { op: 'Add', inputs: ['mm', 'mb'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'int8', shape: [1, 2, 6, 6] }],
    outputs: [{ name: 'y', type: 'int32', shape: [1, 4] }],
    initializers: [
      {
        name: 'w',
        type: 'int8',
        dims: [3, 2, 3, 3],
        values: Array.from({ length: 54 }, () => int(-20, 20)),
      },
      { name: 'xz', type: 'int8', dims: [], values: [3] },
      { name: 'wz', type: 'int8', dims: [], values: [1] },
      { name: 'four', type: 'int32', dims: [], values: [4] },
      { name: 'lo', type: 'int32', dims: [], values: [-20] },
      { name: 'hi', type: 'int32', dims: [], values: [37] },
      {
        name: 'm',
        type: 'int8',
        dims: [27, 4],
        values: Array.from({ length: 108 }, () => int(-100, 100)),
      },
      { name: 'mb', type: 'int32', dims: [4], values: [5, -7, 1000, -1000] },
    ],
  })
}

async function witnessOutputs(
  circuit: CompileCircomReturnType,
  compiled: CompileZkModelReturnType,
  bytes: Uint8Array,
): Promise<{ outputs: number[]; commitment: bigint | undefined }> {
  const witness = await calculateWitness(circuit.wasm, compiled.witnessInput(bytes))
  return {
    outputs: witness.slice(1, 1 + compiled.outputCount).map((value) => Number(fromField(value))),
    commitment: witness[1 + compiled.outputCount],
  }
}

describe('emitCircom', () => {
  let cnn: CompileZkModelReturnType
  let cnnCircuit: CompileCircomReturnType
  let integer: CompileZkModelReturnType
  let integerCircuit: CompileCircomReturnType
  before(async () => {
    const next = random(5)
    const calibration = Array.from({ length: 64 }, () =>
      Float32Array.from({ length: 64 }, () => next()),
    )
    cnn = compileZkModel(tinyFloatCnn(), { calibration, name: 'tiny cnn' })
    integer = compileZkModel(tinyIntegerGraph(), { name: 'tiny int' })
    cnnCircuit = await compileCircom({ source: cnn.source, name: 'tinyCnn' })
    integerCircuit = await compileCircom({ source: integer.source, name: 'tinyInt' })
  })

  it('default', async () => {
    // Relu fused into the requantization, which moved behind the max pool
    assert.deepEqual(
      cnn.graph.ops.map((op) => op.op),
      ['conv', 'maxPool', 'requantize', 'reshape', 'matmul'],
    )
    console.log(
      `  tiny CNN: ${cnnCircuit.constraints} constraints (estimate ${cnn.estimatedConstraints}); tiny integer graph: ${integerCircuit.constraints} (estimate ${integer.estimatedConstraints})`,
    )
    assert.ok(
      Math.abs(cnnCircuit.constraints - cnn.estimatedConstraints) <= 0.02 * cnnCircuit.constraints,
    )
    assert.ok(
      Math.abs(integerCircuit.constraints - integer.estimatedConstraints) <=
        0.02 * integerCircuit.constraints,
    )
  })

  it('behavior: the tiny float CNN circuit equals the integer evaluator', async () => {
    const next = random(99)
    const inputs = [new Uint8Array(64), new Uint8Array(64).fill(255)]
    for (let i = 0; i < 6; i++)
      inputs.push(Uint8Array.from({ length: 64 }, () => Math.floor(next() * 256)))
    for (const bytes of inputs) {
      const expected = Array.from(evaluateZkGraph(cnn.graph, bytes).output)
      const { outputs, commitment } = await witnessOutputs(cnnCircuit, cnn, bytes)
      assert.deepEqual(outputs, expected)
      assert.equal(commitment, computeInputCommitment(bytes))
    }
  })

  it('behavior: the int8 graph circuit (trunc division, clamps, padded ceil-mode pool) equals the evaluator', async () => {
    assert.equal(integer.inputDtype, 'int8')
    assert.match(integer.source, /ZkTruncAdjust\(/)
    const next = random(7)
    const inputs = [
      new Uint8Array(72),
      new Uint8Array(72).fill(0x80),
      new Uint8Array(72).fill(0x7f),
    ]
    for (let i = 0; i < 6; i++)
      inputs.push(Uint8Array.from({ length: 72 }, () => Math.floor(next() * 256)))
    const outputsSeen = new Set<string>()
    for (const bytes of inputs) {
      const signed = Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length))
      const expected = Array.from(evaluateZkGraph(integer.graph, signed).output)
      outputsSeen.add(expected.join(','))
      const { outputs, commitment } = await witnessOutputs(integerCircuit, integer, bytes)
      assert.deepEqual(outputs, expected)
      assert.equal(commitment, computeInputCommitment(bytes))
    }
    assert.ok(outputsSeen.size >= 5, 'the inputs exercise different outputs')
  })

  it('error: a float graph or a bad template name', () => {
    const floatGraph = loadZkGraph(tinyFloatCnn())
    assert.throws(
      () => emitCircom(floatGraph, { modelCommitment: 1n }),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
    assert.throws(
      () => emitCircom(integer.graph, { modelCommitment: 1n, mainTemplate: 'no-dash' }),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
    assert.throws(
      () => emitCircom(integer.graph, { modelCommitment: -1n }),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
  })
})
