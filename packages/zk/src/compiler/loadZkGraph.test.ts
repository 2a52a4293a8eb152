import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { before, describe, it } from 'node:test'
import { buildDemoModels, type DemoModels } from '@verity/models'
import { BaseError, isBaseError } from '@verity/protocol'
import onnxProto from 'onnx-proto'
import { buildZkTestModel } from './buildZkTestModel.ts'
import { loadZkGraph } from './loadZkGraph.ts'

const mnistDir = '/work/shared/assets/onnx/onnx-model-zoo-mnist'

const relu = {
  nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
  inputs: [{ name: 'x', type: 'float32' as const, shape: [1, 4] }],
  outputs: [{ name: 'y', type: 'float32' as const, shape: [1, 4] }],
}

describe('loadZkGraph', () => {
  let demo: DemoModels
  before(async () => {
    demo = await buildDemoModels({ trainCount: 200, testCount: 20, epochs: 1 })
  })

  it('default', () => {
    const graph = loadZkGraph(demo.int8Model)
    assert.equal(graph.numeric, 'integer')
    assert.deepEqual(graph.input, { name: 'image', shape: [1, 1, 28, 28], dtype: 'uint8' })
    assert.deepEqual(graph.output, { name: 'logits', onnxName: 'logits', shape: [1, 10] })
    assert.deepEqual(
      graph.ops.map((op) => `${op.op}:${op.name}`),
      [
        'reshape:flatten',
        'matmul:fc1',
        'addConstant:fc1_bias',
        'addConstant:requant1_round',
        'requantize:requant1_shift',
        'clamp:relu1',
        'cast:hidden_cast',
        'matmul:fc2',
        'addConstant:fc2_bias',
      ],
    )
    const fc1 = graph.ops[1]!
    assert.ok(fc1.op === 'matmul' && fc1.inFeatures === 784 && fc1.outFeatures === 32)
    assert.deepEqual(graph.shapes.get('hidden'), [1, 32])
  })

  it('behavior: the float demo model loads as a float graph with the batch fixed to 1', () => {
    const graph = loadZkGraph(demo.floatModel)
    assert.equal(graph.numeric, 'float')
    assert.deepEqual(graph.input.shape, [1, 1, 28, 28])
    assert.equal(graph.input.dtype, 'float32')
    assert.deepEqual(
      graph.ops.map((op) => op.op),
      ['reshape', 'matmul', 'clamp', 'matmul'],
    )
  })

  it('behavior: mnist-12-int8 (QLinearConv, QLinearMatMul, QLinearAdd, Q/DQ) loads as an integer graph', (t) => {
    if (!existsSync(mnistDir)) return t.skip('onnx-model-zoo-mnist assets absent')
    const graph = loadZkGraph(readFileSync(`${mnistDir}/mnist-12-int8.onnx`))
    assert.equal(graph.numeric, 'integer')
    assert.deepEqual(graph.input, {
      name: 'Input3',
      shape: [1, 1, 28, 28],
      dtype: 'uint8',
      scale: 1,
      zeroPoint: 0,
    })
    assert.ok(graph.output.scale && graph.output.scale > 59 && graph.output.scale < 60)
    assert.deepEqual(graph.shapes.get(graph.ops[0]!.output), [1, 8, 28, 28], 'SAME_UPPER padding')
    assert.ok(graph.sourceOperators.includes('QLinearAdd'))
  })

  it('error: every unsupported operator is listed with its node name', () => {
    const bytes = buildZkTestModel({
      nodes: [
        { op: 'Relu', name: 'ok', inputs: ['x'], outputs: ['a'] },
        { op: 'Sigmoid', name: 'sig1', inputs: ['a'], outputs: ['b'] },
        { op: 'Softmax', name: 'soft', inputs: ['b'], outputs: ['c'] },
        { op: 'Sigmoid', name: 'sig2', inputs: ['c'], outputs: ['d'] },
        { op: 'FusedGemm', name: 'fused', domain: 'com.microsoft', inputs: ['d'], outputs: ['y'] },
      ],
      inputs: relu.inputs,
      outputs: relu.outputs,
    })
    let thrown: unknown
    try {
      loadZkGraph(bytes)
    } catch (error) {
      thrown = error
    }
    assert.ok(isBaseError(thrown, 'ZK_UNSUPPORTED_OPERATORS'), String(thrown))
    const error = thrown as BaseError
    assert.match(error.shortMessage, /4 operator node\(s\).*FusedGemm, Sigmoid, Softmax/)
    for (const listed of [
      'Sigmoid (node "sig1")',
      'Softmax (node "soft")',
      'Sigmoid (node "sig2")',
      'com.microsoft:FusedGemm (node "fused")',
    ])
      assert.ok(error.metaMessages.includes(listed), listed)
    assert.ok(!error.message.includes('"ok"'))
  })

  it('error: malformed, truncated and empty files are typed errors', () => {
    for (const bytes of [
      new Uint8Array(0),
      Uint8Array.of(0xff, 0xff, 0xff),
      demo.int8Model.subarray(0, 300),
    ])
      assert.throws(
        () => loadZkGraph(bytes),
        (error) => isBaseError(error, 'MODEL_INVALID'),
      )
    assert.throws(
      () => loadZkGraph(demo.int8Model, { maxModelBytes: 1000 }),
      (error) => isBaseError(error, 'MODEL_TOO_LARGE'),
    )
    assert.throws(
      () => loadZkGraph('model' as unknown as Uint8Array),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
  })

  it('error: random corruption never crashes', () => {
    let state = 12345
    const next = () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0
      return state
    }
    for (let round = 0; round < 300; round++) {
      const bytes = demo.int8Model.slice()
      for (let flips = 1 + (next() % 6); flips > 0; flips--)
        bytes[next() % bytes.length] = next() & 0xff
      try {
        loadZkGraph(bytes)
      } catch (error) {
        assert.ok(error instanceof BaseError, `round ${round}: ${String(error)}`)
      }
    }
  })

  it('error: dynamic non-batch dimensions, several inputs, huge tensors', () => {
    assert.throws(
      () =>
        loadZkGraph(
          buildZkTestModel({ ...relu, inputs: [{ name: 'x', type: 'float32', shape: [1, 'n'] }] }),
        ),
      (error) => isBaseError(error, 'ZK_DYNAMIC_SHAPE'),
    )
    assert.throws(
      () =>
        loadZkGraph(
          buildZkTestModel({
            nodes: [{ op: 'Add', inputs: ['x', 'z'], outputs: ['y'] }],
            inputs: [relu.inputs[0]!, { name: 'z', type: 'float32', shape: [1, 4] }],
            outputs: relu.outputs,
          }),
        ),
      (error) => isBaseError(error, 'ZK_GRAPH_UNSUPPORTED'),
    )
    assert.throws(
      () =>
        loadZkGraph(
          buildZkTestModel({
            ...relu,
            inputs: [{ name: 'x', type: 'float32', shape: [1, 4096, 4096] }],
          }),
        ),
      (error) => isBaseError(error, 'ZK_TENSOR_TOO_LARGE'),
    )
    assert.throws(
      () => loadZkGraph(demo.int8Model, { maxMultiplyAccumulates: 10_000 }),
      (error) => isBaseError(error, 'ZK_TENSOR_TOO_LARGE'),
    )
    // an initializer that claims 2^40 elements is refused before anything is allocated
    const model = onnxProto.onnx.ModelProto.decode(demo.int8Model)
    const weights = model.graph?.initializer?.[0]
    assert.ok(weights)
    weights.dims = [1 << 20, 1 << 20]
    const huge = onnxProto.onnx.ModelProto.encode(model).finish()
    assert.throws(
      () => loadZkGraph(huge),
      (error) => isBaseError(error, 'ZK_TENSOR_TOO_LARGE'),
    )
    weights.dims = [3, 3]
    const mismatched = onnxProto.onnx.ModelProto.encode(model).finish()
    assert.throws(
      () => loadZkGraph(mismatched),
      (error) => isBaseError(error, 'MODEL_INVALID'),
    )
  })

  it('error: supported operators in forms a circuit cannot compute', () => {
    const divide = (divisor: number) =>
      buildZkTestModel({
        nodes: [{ op: 'Div', inputs: ['x', 'd'], outputs: ['y'] }],
        inputs: [{ name: 'x', type: 'uint8', shape: [1, 4] }],
        outputs: [{ name: 'y', type: 'uint8', shape: [1, 4] }],
        initializers: [{ name: 'd', type: 'uint8', dims: [], values: [divisor] }],
      })
    assert.equal(loadZkGraph(divide(8)).ops[0]!.op, 'requantize')
    assert.throws(
      () => loadZkGraph(divide(3)),
      (error) => isBaseError(error, 'ZK_GRAPH_UNSUPPORTED'),
    )
    const product = buildZkTestModel({
      nodes: [{ op: 'MatMul', inputs: ['x', 'x'], outputs: ['y'] }],
      inputs: [{ name: 'x', type: 'float32', shape: [4, 4] }],
      outputs: [{ name: 'y', type: 'float32', shape: [4, 4] }],
    })
    assert.throws(
      () => loadZkGraph(product),
      (error) => isBaseError(error, 'ZK_GRAPH_UNSUPPORTED'),
    )
  })
})
