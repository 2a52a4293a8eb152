import assert from 'node:assert/strict'
import { test } from 'node:test'
import onnxProto from 'onnx-proto'
import * as ort from 'onnxruntime-node'
import { generateDigits } from '../digits.ts'
import { onnxProducer } from '../onnxExport.ts'
import { createRandom } from '../random.ts'
import { exportCnnFloatOnnx, exportCnnInt8Onnx } from './exportCnnOnnx.ts'
import { quantizeCnn, quantizedCnnForward } from './quantizeCnn.ts'
import { cnnForward, cnnToFloat32, trainCnn } from './trainCnn.ts'

const { onnx } = onnxProto

const trainSet = generateDigits({ count: 2000, seed: 81 })
const testSet = generateDigits({ count: 300, seed: 82 })
const model = cnnToFloat32(trainCnn(trainSet, { seed: 8, epochs: 3 }).model)
const quantized = quantizeCnn(model, trainSet.images)
const options = { docString: 'test recipe, seed 8', metadata: { 'verity.recipe': '{"seed":8}' } }
const floatBytes = exportCnnFloatOnnx(model, options)
const int8Bytes = exportCnnInt8Onnx(quantized, options)

// test inputs: synthetic digits, the two extremes and uniform noise
const random = createRandom(83)
const images = [
  ...testSet.images,
  new Uint8Array(784),
  new Uint8Array(784).fill(255),
  ...Array.from({ length: 20 }, () => Uint8Array.from({ length: 784 }, () => random.int(256))),
]
const batch = images.length
const int8Input = new Uint8Array(batch * 784)
images.forEach((image, index) => {
  int8Input.set(image, index * 784)
})
const floatInput = Float32Array.from(int8Input, (value) => value / 255)

async function run(
  bytes: Uint8Array,
  input: ort.Tensor,
  sessionOptions: ort.InferenceSession.SessionOptions = {},
): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(bytes, sessionOptions)
  try {
    const output = (await session.run({ image: input })).logits
    assert.ok(output)
    return output
  } finally {
    await session.release()
  }
}

test('default', () => {
  for (const [bytes, inputType, outputType] of [
    [floatBytes, 1, 1],
    [int8Bytes, 2, 6],
  ] as const) {
    const decoded = onnx.ModelProto.decode(bytes)
    assert.equal(Number(decoded.irVersion), 7)
    assert.deepEqual(
      decoded.opsetImport.map((opset) => [opset.domain, Number(opset.version)]),
      [['', 13]],
    )
    assert.equal(decoded.producerName, onnxProducer.name)
    assert.equal(decoded.docString, options.docString)
    assert.deepEqual(
      decoded.metadataProps.map((entry) => [entry.key, entry.value]),
      [['verity.recipe', '{"seed":8}']],
    )
    const graph = decoded.graph!
    assert.equal(graph.input![0]!.name, 'image')
    assert.equal(graph.output![0]!.name, 'logits')
    assert.equal(graph.input![0]!.type!.tensorType!.elemType, inputType)
    assert.equal(graph.output![0]!.type!.tensorType!.elemType, outputType)
    assert.deepEqual(
      graph.input![0]!.type!.tensorType!.shape!.dim!.map(
        (dim) => dim.dimParam || Number(dim.dimValue),
      ),
      ['batch', 1, 28, 28],
    )
  }
  const ops = (bytes: Uint8Array) =>
    onnx.ModelProto.decode(bytes).graph!.node!.map((node) => `${node.name}:${node.opType}`)
  assert.deepEqual(ops(floatBytes), [
    'conv:Conv',
    'relu:Relu',
    'pool:MaxPool',
    'flatten:Flatten',
    'fc:Gemm',
  ])
  assert.deepEqual(ops(int8Bytes), [
    'conv:ConvInteger',
    'conv_bias:Add',
    'requant_round:Add',
    'requant_shift:Div',
    'relu:Clip',
    'activations_cast:Cast',
    'pool:MaxPool',
    'flatten:Flatten',
    'fc:MatMulInteger',
    'fc_bias:Add',
  ])
  const graph = onnx.ModelProto.decode(int8Bytes).graph!
  const attributes = (name: string) =>
    Object.fromEntries(
      graph
        .node!.find((node) => node.name === name)!
        .attribute!.map((a) => [a.name, a.ints!.map(Number)]),
    )
  assert.deepEqual(attributes('conv'), {
    kernel_shape: [3, 3],
    strides: [2, 2],
    pads: [0, 0, 0, 0],
  })
  assert.deepEqual(attributes('pool'), { kernel_shape: [2, 2], strides: [2, 2] })
  const weight = graph.initializer!.find((tensor) => tensor.name === 'conv.weight')!
  assert.equal(weight.dataType, 3) // int8
  assert.deepEqual(weight.dims!.map(Number), [4, 1, 3, 3])
})

test('behavior: exports are byte-identical for the same model', () => {
  assert.deepEqual(exportCnnFloatOnnx(model, options), floatBytes)
  assert.deepEqual(exportCnnInt8Onnx(quantized, options), int8Bytes)
  assert.notDeepEqual(exportCnnFloatOnnx(model, { docString: 'other' }), floatBytes)
})

test('behavior: onnxruntime reproduces the float forward pass within 1e-5', async () => {
  const output = await run(floatBytes, new ort.Tensor('float32', floatInput, [batch, 1, 28, 28]))
  assert.equal(output.type, 'float32')
  assert.deepEqual(output.dims, [batch, 10])
  const data = output.data as Float32Array
  let maxError = 0
  images.forEach((_, index) => {
    const reference = cnnForward(model, floatInput.subarray(index * 784, (index + 1) * 784))
    // 1e-5, relative once |logit| > 1 (float32 resolves ~4e-6 at 32)
    for (let k = 0; k < 10; k++) {
      const error = Math.abs(reference[k]! - data[index * 10 + k]!)
      maxError = Math.max(maxError, error / Math.max(1, Math.abs(reference[k]!)))
    }
  })
  assert.ok(maxError <= 1e-5, `max scaled |onnxruntime - TypeScript| = ${maxError}`)
})

test('behavior: onnxruntime reproduces the integer reference exactly (ConvInteger uint8 × int8, MaxPool uint8)', async () => {
  const output = await run(int8Bytes, new ort.Tensor('uint8', int8Input, [batch, 1, 28, 28]))
  assert.equal(output.type, 'int32')
  assert.deepEqual(output.dims, [batch, 10])
  const expected = new Int32Array(batch * 10)
  images.forEach((image, index) => {
    expected.set(quantizedCnnForward(quantized, image), index * 10)
  })
  assert.deepEqual(output.data, expected)
})

test('behavior: the int8 model is bit-exact across thread counts and optimization levels', async () => {
  const input = new ort.Tensor('uint8', int8Input, [batch, 1, 28, 28])
  const outputs = []
  for (const sessionOptions of [
    { intraOpNumThreads: 1 },
    { intraOpNumThreads: 2 },
    { intraOpNumThreads: 2, graphOptimizationLevel: 'disabled' as const },
    { intraOpNumThreads: 1, graphOptimizationLevel: 'all' as const },
  ]) {
    const output = await run(int8Bytes, input, sessionOptions)
    outputs.push(Buffer.from((output.data as Int32Array).buffer))
  }
  for (const output of outputs.slice(1)) assert.ok(output.equals(outputs[0]!))
})

test('behavior: weights at ±63 everywhere (the 7-bit worst case) stay exact in onnxruntime', async () => {
  // every uint8 × int8 product pair at its largest: 2 · 255 · 63 = 32130 fits int16 (vpmaddubsw)
  const extreme = {
    ...quantized,
    convWeight: Int8Array.from(quantized.convWeight, (_, index) =>
      Math.floor(index / 9) % 2 === 0 ? 63 : -63,
    ),
    fcWeight: Int8Array.from(quantized.fcWeight, (_, index) => (index % 3 === 0 ? -63 : 63)),
    convBias: Int32Array.of(-1000, 1000, 0, 5),
    shift: Int32Array.of(9, 9, 10, 8),
    divisor: Int32Array.of(512, 512, 1024, 256),
    round: Int32Array.of(256, 256, 512, 128),
  }
  const bytes = exportCnnInt8Onnx(extreme, options)
  const output = await run(bytes, new ort.Tensor('uint8', int8Input, [batch, 1, 28, 28]))
  const expected = new Int32Array(batch * 10)
  images.forEach((image, index) => {
    expected.set(quantizedCnnForward(extreme, image), index * 10)
  })
  assert.deepEqual(output.data, expected)
  assert.ok(
    expected.some((value) => Math.abs(value) > 100_000),
    `largest |logit| ${Math.max(...expected.map(Math.abs))}`,
  )
})
