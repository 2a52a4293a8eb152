import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type BaseError, isBaseError } from '@verity/protocol'
import { buildOnnxModel, constantNode, externalTensor, subgraph } from './buildOnnxModel.ts'
import { deterministicBytes } from './deterministicBytes.ts'
import { inspectOnnx } from './inspectOnnx.ts'
import type { onnx } from './onnxProto.ts'
import { validateOnnx } from './validateOnnx.ts'

const mnist8 = fileURLToPath(
  new URL('../../../../shared/assets/onnx/onnx-model-zoo-mnist/mnist-8.onnx', import.meta.url),
)
const skipAssets = existsSync(mnist8) ? false : `${mnist8} absent (../shared/assets)`

/** Asserts `run` throws a Verity error with `code`, and returns it for further checks. */
function thrown(run: () => unknown, code: BaseError['code']): BaseError {
  try {
    run()
  } catch (error) {
    assert.ok(isBaseError(error), `expected a Verity error, got ${String(error)}`)
    assert.equal(error.code, code, error.message)
    assert.doesNotMatch(error.message, /\n\s+at /, 'no stack trace in the message')
    return error
  }
  assert.fail(`expected ${code}, nothing was thrown`)
}

const boolInput = [{ name: 'cond', elemType: 9, shape: [] }]
const floatOutput = [{ name: 'y', elemType: 1, shape: [4] }]

/** An `If` whose branches are the given graphs: ops inside subgraphs must be walked. */
function ifNode(thenBranch: onnx.IGraphProto, elseBranch: onnx.IGraphProto): onnx.INodeProto {
  return {
    opType: 'If',
    name: 'If_0',
    input: ['cond'],
    output: ['y'],
    attribute: [
      { name: 'then_branch', type: 5, g: thenBranch },
      { name: 'else_branch', type: 5, g: elseBranch },
    ],
  }
}

const plainConstant = (name: string) =>
  constantNode(name, { name, dataType: 1, dims: [4], floatData: [1, 2, 3, 4] })

describe('validateOnnx', () => {
  test('default', { skip: skipAssets }, () => {
    const bytes = readFileSync(mnist8)
    const operators = new Set(inspectOnnx(bytes).operators)
    const info = validateOnnx(bytes, { supportedOperators: operators })
    assert.deepEqual(info.inputs, [{ name: 'Input3', dtype: 'float32', shape: [1, 1, 28, 28] }])
  })

  test('behavior: a self-contained model with dynamic dims passes', () => {
    const info = validateOnnx(
      buildOnnxModel({ inputs: [{ name: 'x', elemType: 1, shape: ['batch', 4] }] }),
      { supportedOperators: new Set(['ai.onnx:Relu']) },
    )
    assert.deepEqual(info.inputs[0]?.shape, ['batch', 4])
  })

  test('error: initializer with external data at ../../etc/passwd', () => {
    const error = thrown(
      () =>
        validateOnnx(
          buildOnnxModel({
            inputs: [
              { name: 'x', elemType: 1, shape: [1, 4] },
              { name: 'w', elemType: 1, shape: [4] },
            ],
            initializers: [externalTensor('w', '../../etc/passwd')],
            nodes: [{ opType: 'Mul', input: ['x', 'w'], output: ['y'] }],
          }),
        ),
      'MODEL_EXTERNAL_DATA',
    )
    assert.match(error.message, /"\.\.\/\.\.\/etc\/passwd"/)
    assert.match(error.message, /PATH TRAVERSAL/)
    assert.match(error.message, /initializer "w"/)
  })

  test('error: Constant with external data inside an If subgraph', () => {
    const error = thrown(
      () =>
        validateOnnx(
          buildOnnxModel({
            inputs: boolInput,
            outputs: floatOutput,
            nodes: [
              ifNode(
                subgraph('then', [plainConstant('a')], [{ name: 'a' }]),
                subgraph(
                  'else',
                  [constantNode('b', externalTensor('b', '/etc/shadow'))],
                  [{ name: 'b' }],
                ),
              ),
            ],
          }),
        ),
      'MODEL_EXTERNAL_DATA',
    )
    assert.match(error.message, /else_branch/)
    assert.match(error.message, /"\/etc\/shadow"/)
    assert.match(error.message, /ABSOLUTE/)
  })

  test('error: external data in a Loop body nested in a Scan body, and without any location', () => {
    const loopBody = subgraph(
      'body',
      [constantNode('k', externalTensor('k', 'weights.bin'))],
      [{ name: 'k' }],
    )
    const scanBody = subgraph(
      'scan',
      [
        {
          opType: 'Loop',
          name: 'inner',
          output: ['k'],
          attribute: [{ name: 'body', type: 5, g: loopBody }],
        },
      ],
      [{ name: 'k' }],
    )
    const error = thrown(
      () =>
        validateOnnx(
          buildOnnxModel({
            nodes: [
              {
                opType: 'Scan',
                name: 'outer',
                input: ['x'],
                output: ['y'],
                attribute: [{ name: 'body', type: 5, g: scanBody }],
              },
              constantNode('z', { name: 'z', dataType: 1, dims: [1], dataLocation: 1 }),
            ],
          }),
        ),
      'MODEL_EXTERNAL_DATA',
    )
    assert.match(error.message, /2 tensor\(s\)/)
    assert.match(error.message, /node "outer"\.body > node "inner"\.body > node "k"\.value/)
    assert.match(error.message, /"weights\.bin"/)
    assert.match(error.message, /no location given/)
  })

  test('error: operators outside the supported set are all listed', () => {
    const error = thrown(
      () =>
        validateOnnx(
          buildOnnxModel({
            opsets: { '': 17, 'com.microsoft': 1 },
            inputs: boolInput,
            outputs: floatOutput,
            nodes: [
              ifNode(
                subgraph('then', [plainConstant('a')], [{ name: 'a' }]),
                subgraph(
                  'else',
                  [{ opType: 'FusedGemm', domain: 'com.microsoft', output: ['b'] }],
                  [{ name: 'b' }],
                ),
              ),
            ],
          }),
          { supportedOperators: new Set(['ai.onnx:Constant', 'ai.onnx:Relu']) },
        ),
      'MODEL_UNSUPPORTED_OPERATOR',
    )
    assert.match(error.shortMessage, /2 operator\(s\)/)
    assert.match(error.shortMessage, /ai\.onnx:If, com\.microsoft:FusedGemm/)
  })

  test('error: a fixed dimension over maxDim', () => {
    const bytes = buildOnnxModel({
      inputs: [{ name: 'x', elemType: 1, shape: [1, 5_000_000] }],
      outputs: [{ name: 'y', elemType: 1, shape: [1, 2 ** 40] }],
    })
    const error = thrown(() => validateOnnx(bytes), 'MODEL_DIM_TOO_LARGE')
    assert.match(error.message, /Input "x" axis 1 is 5000000/)
    assert.match(error.message, /Output "y" axis 1 is 1099511627776/)
    const larger = thrown(() => validateOnnx(bytes, { maxDim: 2 ** 32 - 1 }), 'MODEL_DIM_TOO_LARGE')
    assert.match(larger.shortMessage, /1 fixed dimension/)
  })

  test('error: inputs Verity cannot feed and models without usable inputs or outputs', () => {
    const strings = thrown(
      () => validateOnnx(buildOnnxModel({ inputs: [{ name: 's', elemType: 8, shape: [2] }] })),
      'MODEL_INVALID',
    )
    assert.match(strings.message, /Input "s": its element type is string/)
    for (const elemType of [14, 15, 16])
      thrown(
        () => validateOnnx(buildOnnxModel({ inputs: [{ name: 'c', elemType, shape: [2] }] })),
        'MODEL_INVALID',
      )
    thrown(() => validateOnnx(buildOnnxModel({ inputs: [] })), 'MODEL_INVALID')
    const noOutputs = thrown(
      () =>
        validateOnnx(
          buildOnnxModel({
            outputs: [
              { name: 'p', type: { sequenceType: { elemType: { tensorType: { elemType: 1 } } } } },
            ],
          }),
        ),
      'MODEL_INVALID',
    )
    assert.match(noOutputs.message, /"p"/)
  })

  test('error: truncated mnist-8 and seeded random bytes are MODEL_INVALID', {
    skip: skipAssets,
  }, () => {
    const bytes = readFileSync(mnist8)
    for (const length of [3, 64, 4096, bytes.length >> 1, bytes.length - 10])
      thrown(() => validateOnnx(bytes.subarray(0, length)), 'MODEL_INVALID')
    thrown(() => validateOnnx(deterministicBytes(4096, 'validate-onnx-random')), 'MODEL_INVALID')
  })

  test('error: size is refused before parsing, limits are checked', () => {
    thrown(
      () => validateOnnx(deterministicBytes(4096, 'big'), { maxModelBytes: 4095 }),
      'MODEL_TOO_LARGE',
    )
    thrown(() => validateOnnx(buildOnnxModel(), { maxDim: 2 ** 33 }), 'INVALID_ARGUMENT')
  })
})
