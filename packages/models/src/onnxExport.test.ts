import assert from 'node:assert/strict'
import { test } from 'node:test'
import onnxProto from 'onnx-proto'
import * as ort from 'onnxruntime-node'
import { generateDigits } from './digits.ts'
import { exportFloatOnnx, exportInt8Onnx, onnxProducer } from './onnxExport.ts'
import { quantizedForward, quantizeMlp } from './quantize.ts'
import { createRandom } from './random.ts'
import { mlpForward, mlpToFloat32, trainMlp } from './train.ts'

const { onnx } = onnxProto

const trainSet = generateDigits({ count: 2000, seed: 41 })
const testSet = generateDigits({ count: 300, seed: 42 })
const model = mlpToFloat32(trainMlp(trainSet, { seed: 4, epochs: 3 }).model)
const quantized = quantizeMlp(model, trainSet.images)
const options = { docString: 'test recipe, seed 4', metadata: { 'verity.recipe': '{"seed":4}' } }
const floatBytes = exportFloatOnnx(model, options)
const int8Bytes = exportInt8Onnx(quantized, options)

// test inputs: synthetic digits, the two extremes and uniform noise
const random = createRandom(43)
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
    assert.equal(decoded.producerVersion, onnxProducer.version)
    assert.equal(decoded.docString, options.docString)
    assert.deepEqual(
      decoded.metadataProps.map((entry) => [entry.key, entry.value]),
      [['verity.recipe', '{"seed":4}']],
    )
    const graph = decoded.graph!
    const input = graph.input![0]!.type!.tensorType!
    const output = graph.output![0]!.type!.tensorType!
    assert.equal(graph.input![0]!.name, 'image')
    assert.equal(graph.output![0]!.name, 'logits')
    assert.equal(input.elemType, inputType)
    assert.equal(output.elemType, outputType)
    assert.deepEqual(
      input.shape!.dim!.map((dim) => dim.dimParam || Number(dim.dimValue)),
      ['batch', 1, 28, 28],
    )
    assert.deepEqual(
      output.shape!.dim!.map((dim) => dim.dimParam || Number(dim.dimValue)),
      ['batch', 10],
    )
  }
  const ops = (bytes: Uint8Array) =>
    onnx.ModelProto.decode(bytes).graph!.node!.map((node) => `${node.name}:${node.opType}`)
  assert.deepEqual(ops(floatBytes), ['flatten:Flatten', 'fc1:Gemm', 'relu1:Relu', 'fc2:Gemm'])
  assert.deepEqual(ops(int8Bytes), [
    'flatten:Flatten',
    'fc1:MatMulInteger',
    'fc1_bias:Add',
    'requant1_round:Add',
    'requant1_shift:Div',
    'relu1:Clip',
    'hidden_cast:Cast',
    'fc2:MatMulInteger',
    'fc2_bias:Add',
  ])
})

test('behavior: exports are byte-identical for the same model', () => {
  assert.deepEqual(exportFloatOnnx(model, options), floatBytes)
  assert.deepEqual(exportInt8Onnx(quantized, options), int8Bytes)
  assert.notDeepEqual(exportFloatOnnx(model, { docString: 'other' }), floatBytes)
})

test('behavior: onnxruntime reproduces the float forward pass within 1e-5', async () => {
  const output = await run(floatBytes, new ort.Tensor('float32', floatInput, [batch, 1, 28, 28]))
  assert.equal(output.type, 'float32')
  assert.deepEqual(output.dims, [batch, 10])
  const data = output.data as Float32Array
  let maxError = 0
  images.forEach((_, index) => {
    const reference = mlpForward(model, floatInput.subarray(index * 784, (index + 1) * 784))
    // 1e-5, relative once |logit| > 1 (float32 resolves ~4e-6 at 32)
    for (let k = 0; k < 10; k++) {
      const error = Math.abs(reference[k]! - data[index * 10 + k]!)
      maxError = Math.max(maxError, error / Math.max(1, Math.abs(reference[k]!)))
    }
  })
  assert.ok(maxError <= 1e-5, `max scaled |onnxruntime - TypeScript| = ${maxError}`)
})

test('behavior: onnxruntime reproduces the integer reference exactly', async () => {
  const output = await run(int8Bytes, new ort.Tensor('uint8', int8Input, [batch, 1, 28, 28]))
  assert.equal(output.type, 'int32')
  assert.deepEqual(output.dims, [batch, 10])
  const expected = new Int32Array(batch * 10)
  images.forEach((image, index) => {
    expected.set(quantizedForward(quantized, image), index * 10)
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
