import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { isBaseError, shapeSize } from '@verity/protocol'
import { buildOnnxModel, constantNode, subgraph } from './buildOnnxModel.ts'
import { deterministicBytes } from './deterministicBytes.ts'
import { inspectOnnx, sanitizeDimName } from './inspectOnnx.ts'
import { tensorFromTensorProto } from './tensorFromTensorProto.ts'

const assets = fileURLToPath(new URL('../../../../shared/assets/', import.meta.url))
const haveAssets = existsSync(assets)
const skipAssets = haveAssets ? false : `${assets} absent (../shared/assets)`

function filesUnder(dir: string, match: (name: string) => boolean): string[] {
  const found: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) found.push(...filesUnder(path, match))
    else if (match(name)) found.push(path)
  }
  return found
}

describe('inspectOnnx', () => {
  test('default', { skip: skipAssets }, () => {
    // PROVENANCE.md: mnist-8 "Input Input3 f32[1,1,28,28], output Plus214_Output_0 f32[1,10]",
    // CNTK 2.5.1, opset 8, ir 3.
    const info = inspectOnnx(readFileSync(join(assets, 'onnx/onnx-model-zoo-mnist/mnist-8.onnx')))
    assert.deepEqual(info.inputs, [{ name: 'Input3', dtype: 'float32', shape: [1, 1, 28, 28] }])
    assert.deepEqual(info.outputs, [{ name: 'Plus214_Output_0', dtype: 'float32', shape: [1, 10] }])
    assert.equal(info.irVersion, 3)
    assert.deepEqual(info.opsets, { 'ai.onnx': 8 })
    assert.equal(info.producer, 'CNTK 2.5.1')
    assert.deepEqual(info.operators, [
      'ai.onnx:Add',
      'ai.onnx:Conv',
      'ai.onnx:MatMul',
      'ai.onnx:MaxPool',
      'ai.onnx:Relu',
      'ai.onnx:Reshape',
    ])
    assert.deepEqual(info.skippedOutputs, [])
    assert.deepEqual(info.externalData, [])
  })

  test('behavior: the provenance of every model under assets/onnx matches', {
    skip: skipAssets,
  }, () => {
    const expected: Record<string, Partial<ReturnType<typeof inspectOnnx>>> = {
      'onnx-model-zoo-mnist/mnist-12.onnx': {
        irVersion: 7,
        producer: 'CNTK 2.5.1',
        inputs: [{ name: 'Input3', dtype: 'float32', shape: [1, 1, 28, 28] }],
        outputs: [{ name: 'Plus214_Output_0', dtype: 'float32', shape: [1, 10] }],
      },
      'onnx-model-zoo-mnist/mnist-12-int8.onnx': {
        producer: 'onnx.quantize 0.1.0',
        inputs: [{ name: 'Input3', dtype: 'float32', shape: [1, 1, 28, 28] }],
        outputs: [{ name: 'Plus214_Output_0', dtype: 'float32', shape: [1, 10] }],
      },
      'onnx-mlir-mnist/mnist.onnx': {
        opsets: { 'ai.onnx': 13 },
        inputs: [{ name: 'image', dtype: 'float32', shape: [1, 1, 28, 28] }],
        outputs: [{ name: 'prediction', dtype: 'float32', shape: [1, 10] }],
      },
      'onnxruntime_go/sklearn_randomforest.onnx': {
        opsets: { 'ai.onnx.ml': 1, 'ai.onnx': 9 },
        inputs: [{ name: 'X', dtype: 'float32', shape: ['X_dim0', 4] }],
        outputs: [{ name: 'output_label', dtype: 'int64', shape: ['output_label_dim0'] }],
        skippedOutputs: ['output_probability'], // seq(map(int64, float))
      },
      'onnxruntime_go/example_network.onnx': {
        producer: 'pytorch 1.11.0',
        inputs: [{ name: '1x4 Input Vector', dtype: 'float32', shape: [1, 1, 4] }],
        outputs: [{ name: '1x2 Output Vector', dtype: 'float32', shape: [1, 1, 2] }],
      },
      'onnxruntime-datasets/logreg_iris.onnx': {
        opsets: { 'ai.onnx.ml': 1 },
        inputs: [{ name: 'float_input', dtype: 'float32', shape: [3, 2] }],
        outputs: [{ name: 'label', dtype: 'int64', shape: [3] }],
        skippedOutputs: ['probabilities'],
      },
    }
    const models = filesUnder(join(assets, 'onnx'), (name) => name.endsWith('.onnx'))
    assert.ok(models.length >= 7, `found ${models.length} models`)
    for (const path of models) {
      const info = inspectOnnx(readFileSync(path))
      const key = path.slice(join(assets, 'onnx').length + 1)
      for (const [field, value] of Object.entries(expected[key] ?? {}))
        assert.deepEqual(info[field as keyof typeof info], value, `${key} ${field}`)
      assert.ok(info.operators.length > 0, key)
      assert.deepEqual(info.externalData, [], key)
    }
  })

  test('behavior: every onnx-backend model inspects and agrees with its test data', {
    skip: skipAssets,
  }, () => {
    const root = join(assets, 'onnx-backend')
    const models = filesUnder(root, (name) => name.endsWith('.onnx'))
    assert.ok(models.length >= 140, `found ${models.length} models`)
    let checkedTensors = 0
    for (const path of models) {
      const info = inspectOnnx(readFileSync(path))
      assert.ok(info.irVersion >= 3, path)
      assert.ok(info.operators.every((op) => /^[A-Za-z0-9_.-]+:[A-Za-z_][A-Za-z0-9_]*$/.test(op)))
      const dataSet = join(path, '..', 'test_data_set_0')
      if (!path.endsWith('model.onnx') || !existsSync(dataSet)) continue
      const files = readdirSync(dataSet)
      const inputFiles = files.filter((name) => /^input_\d+\.pb$/.test(name))
      const outputFiles = files.filter((name) => /^output_\d+\.pb$/.test(name))
      assert.equal(inputFiles.length, info.inputs.length + info.unsupportedInputs.length, path)
      assert.equal(outputFiles.length, info.outputs.length + info.skippedOutputs.length, path)
      if (info.unsupportedInputs.length || info.skippedOutputs.length) continue
      for (const [kind, specs] of [
        ['input', info.inputs],
        ['output', info.outputs],
      ] as const)
        specs.forEach((spec, index) => {
          const { tensor } = tensorFromTensorProto(
            readFileSync(join(dataSet, `${kind}_${index}.pb`)),
          )
          assert.equal(tensor.dtype, spec.dtype, `${path} ${kind} ${index}`)
          assert.equal(tensor.shape.length, spec.shape.length, `${path} ${kind} ${index}`)
          spec.shape.forEach((dim, axis) => {
            if (typeof dim === 'number')
              assert.equal(tensor.shape[axis], dim, `${path} ${spec.name}`)
          })
          assert.equal(tensor.data.length, shapeSize(tensor.shape))
          checkedTensors++
        })
    }
    assert.ok(checkedTensors > 200, `checked ${checkedTensors} tensors`)
  })

  test('behavior: string inputs are reported, not thrown', { skip: skipAssets }, () => {
    const info = inspectOnnx(
      readFileSync(
        join(assets, 'onnx-backend/simple/test_strnorm_model_nostopwords_nochangecase/model.onnx'),
      ),
    )
    assert.deepEqual(info.inputs, [])
    assert.equal(info.unsupportedInputs[0]?.name, 'x')
    assert.match(info.unsupportedInputs[0]?.reason ?? '', /string/)
    assert.deepEqual(info.skippedOutputs, ['y'])
  })

  test('behavior: dynamic dims get manifest-safe names', () => {
    const info = inspectOnnx(
      buildOnnxModel({
        inputs: [{ name: 'x', elemType: 1, shape: ['batch size', null, -1, '2*N', 'seq', 3] }],
        outputs: [{ name: 'out/0', elemType: 1, shape: [null] }],
        nodes: [{ opType: 'ReduceSum', input: ['x'], output: ['out/0'] }],
      }),
    )
    // dim_param sanitized; no dim at all, or a negative dim_value, becomes <input>_dim<axis>.
    assert.deepEqual(info.inputs[0]?.shape, ['batch_size', 'x_dim1', 'x_dim2', '_2_N', 'seq', 3])
    assert.deepEqual(info.outputs[0]?.shape, ['out_0_dim0'])
    assert.equal(sanitizeDimName('a'.repeat(100)).length, 64)
    assert.equal(sanitizeDimName('名前'), '__')
    for (const dim of info.inputs[0]?.shape ?? [])
      if (typeof dim === 'string') assert.match(dim, /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/)
  })

  test('behavior: initializers listed as inputs are not model inputs', () => {
    const info = inspectOnnx(
      buildOnnxModel({
        inputs: [
          { name: 'x', elemType: 1, shape: [1, 4] },
          { name: 'w', elemType: 1, shape: [4] },
        ],
        initializers: [{ name: 'w', dataType: 1, dims: [4], floatData: [1, 2, 3, 4] }],
        nodes: [{ opType: 'Mul', input: ['x', 'w'], output: ['y'] }],
      }),
    )
    assert.deepEqual(
      info.inputs.map((input) => input.name),
      ['x'],
    )
  })

  test('behavior: operators include subgraphs and expand model-local functions', () => {
    const info = inspectOnnx(
      buildOnnxModel({
        opsets: { '': 17, 'custom.fn': 1, 'com.microsoft': 1 },
        inputs: [{ name: 'x', elemType: 9, shape: [] }],
        nodes: [
          {
            opType: 'If',
            input: ['x'],
            output: ['y'],
            attribute: [
              {
                name: 'then_branch',
                type: 5,
                g: subgraph(
                  'then',
                  [
                    constantNode('c', {
                      name: 'c',
                      dataType: 1,
                      dims: [4],
                      floatData: [1, 2, 3, 4],
                    }),
                    { opType: 'MyGelu', domain: 'custom.fn', input: ['c'], output: ['d'] },
                  ],
                  [{ name: 'd', elemType: 1, shape: [4] }],
                ),
              },
              {
                name: 'else_branch',
                type: 5,
                g: subgraph(
                  'else',
                  [{ opType: 'FusedGemm', domain: 'com.microsoft', output: ['e'] }],
                  [{ name: 'e', elemType: 1, shape: [4] }],
                ),
              },
            ],
          },
        ],
        functions: [
          {
            name: 'MyGelu',
            domain: 'custom.fn',
            input: ['a'],
            output: ['b'],
            node: [
              { opType: 'Erf', input: ['a'], output: ['t'] },
              { opType: 'Mul', input: ['a', 't'], output: ['b'] },
            ],
          },
        ],
      }),
    )
    assert.deepEqual(info.operators, [
      'ai.onnx:Constant',
      'ai.onnx:Erf',
      'ai.onnx:If',
      'ai.onnx:Mul',
      'com.microsoft:FusedGemm',
    ])
    assert.deepEqual(info.opsets, { 'ai.onnx': 17, 'custom.fn': 1, 'com.microsoft': 1 })
  })

  test('behavior: nested and recursive local functions are walked once each', () => {
    // f0 calls f1 twice, f1 calls f2 twice, … : 2^40 calls if expanded naively. f40 calls itself.
    const functions = Array.from({ length: 41 }, (_, i) => ({
      name: `f${i}`,
      domain: 'local',
      input: ['a'],
      output: ['b'],
      node:
        i < 40
          ? [
              { opType: `f${i + 1}`, domain: 'local', input: ['a'], output: ['t'] },
              { opType: `f${i + 1}`, domain: 'local', input: ['t'], output: ['b'] },
            ]
          : [
              { opType: 'Relu', input: ['a'], output: ['t'] },
              { opType: 'f40', domain: 'local', input: ['t'], output: ['b'] },
            ],
    }))
    const started = performance.now()
    const info = inspectOnnx(
      buildOnnxModel({
        opsets: { '': 17, local: 1 },
        nodes: [{ opType: 'f0', domain: 'local', input: ['x'], output: ['y'] }],
        functions,
      }),
    )
    assert.deepEqual(info.operators, ['ai.onnx:Relu'])
    assert.ok(performance.now() - started < 1000)
  })

  test('behavior: non-tensor and unknown-rank outputs are skipped', () => {
    const info = inspectOnnx(
      buildOnnxModel({
        outputs: [
          { name: 'y', elemType: 1, shape: [1, 4] },
          { name: 'labels', elemType: 8, shape: [1] },
          { name: 'probs', type: { sequenceType: { elemType: { mapType: { keyType: 7 } } } } },
          { name: 'unknown', elemType: 1, shape: undefined },
        ],
      }),
    )
    assert.deepEqual(
      info.outputs.map((output) => output.name),
      ['y'],
    )
    assert.deepEqual(info.skippedOutputs, ['labels', 'probs', 'unknown'])
  })

  test('error: truncated and random bytes are MODEL_INVALID, never a crash', {
    skip: skipAssets,
  }, () => {
    const bytes = readFileSync(join(assets, 'onnx/onnx-model-zoo-mnist/mnist-8.onnx'))
    for (const length of [1, 2, 10, 100, 1000, bytes.length >> 1, bytes.length - 1]) {
      assert.throws(
        () => inspectOnnx(bytes.subarray(0, length)),
        (error) =>
          isBaseError(error, 'MODEL_INVALID') &&
          !/\n\s+at /.test(error.message) &&
          error.message.length < 2000,
        `truncated to ${length}`,
      )
    }
  })

  test('error: seeded random bytes, empty files and LFS pointers are MODEL_INVALID', () => {
    for (let i = 0; i < 32; i++)
      assert.throws(
        () => inspectOnnx(deterministicBytes(4096, `random-model-${i}`)),
        (error) => isBaseError(error, 'MODEL_INVALID') && !/\n\s+at /.test(error.message),
        `random-model-${i}`,
      )
    assert.throws(
      () => inspectOnnx(new Uint8Array()),
      (error) => isBaseError(error, 'MODEL_INVALID'),
    )
    const pointer = new TextEncoder().encode(
      'version https://git-lfs.github.com/spec/v1\noid sha256:2f06e72d\nsize 26454\n',
    )
    assert.throws(
      () => inspectOnnx(pointer),
      (error) => isBaseError(error, 'MODEL_INVALID') && /LFS/.test(error.message),
    )
    assert.throws(
      () => inspectOnnx(buildOnnxModel({ noGraph: true })),
      (error) => isBaseError(error, 'MODEL_INVALID') && /no graph/.test(error.message),
    )
    assert.throws(
      () => inspectOnnx(buildOnnxModel({ irVersion: 0 })),
      (error) => isBaseError(error, 'MODEL_INVALID') && /ir_version/.test(error.message),
    )
    assert.throws(
      () => inspectOnnx(buildOnnxModel({ opsets: {} })),
      (error) => isBaseError(error, 'MODEL_INVALID') && /opset/.test(error.message),
    )
  })

  test('error: MODEL_TOO_LARGE is decided before parsing', () => {
    const garbage = deterministicBytes(2048, 'too-large')
    assert.throws(
      () => inspectOnnx(garbage, { maxModelBytes: 1024 }),
      (error) => isBaseError(error, 'MODEL_TOO_LARGE') && /2048/.test(error.message),
    )
    assert.throws(
      () => inspectOnnx(garbage, { maxModelBytes: 0 }),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
  })
})
