import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { before, describe, it } from 'node:test'
import { gunzipSync } from 'node:zlib'
import { buildDemoModels, type DemoModels, generateDigits } from '@verity/models'
import { isBaseError } from '@verity/protocol'
import { InferenceSession, Tensor } from 'onnxruntime-node'
import { compileZkModel } from './compileZkModel.ts'
import { evaluateZkGraph } from './evaluateZkGraph.ts'
import { loadZkGraph } from './loadZkGraph.ts'
import { measureZkAccuracy } from './measureZkAccuracy.ts'

const mnistModels = '/work/shared/assets/onnx/onnx-model-zoo-mnist'
const mnistData = '/work/shared/assets/mnist'

function readMnist(count: number): { images: Uint8Array[]; labels: number[] } {
  const images = gunzipSync(readFileSync(`${mnistData}/t10k-images-idx3-ubyte.gz`))
  const labels = gunzipSync(readFileSync(`${mnistData}/t10k-labels-idx1-ubyte.gz`))
  assert.equal(images.readUInt32BE(0), 2051)
  assert.equal(labels.readUInt32BE(0), 2049)
  return {
    images: Array.from(
      { length: count },
      (_, i) => new Uint8Array(images.subarray(16 + i * 784, 16 + (i + 1) * 784)),
    ),
    labels: Array.from(labels.subarray(8, 8 + count)),
  }
}

function argmax(values: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i
  return best
}

describe('evaluateZkGraph', () => {
  let demo: DemoModels
  before(async () => {
    demo = await buildDemoModels({ trainCount: 2000, testCount: 500, epochs: 3 })
  })

  it('default', async () => {
    // the demo int8 MLP: the integer evaluator equals onnxruntime bit for bit
    const graph = loadZkGraph(demo.int8Model)
    const images = generateDigits({ count: 40, seed: demo.recipe.data.testSeed }).images
    const session = await InferenceSession.create(demo.int8Model)
    try {
      for (const image of images) {
        const results = await session.run({ image: new Tensor('uint8', image, [1, 1, 28, 28]) })
        assert.deepEqual(
          Array.from(evaluateZkGraph(graph, image).output),
          Array.from(results.logits!.data as Int32Array),
        )
      }
    } finally {
      await session.release()
    }
  })

  it('behavior: all intermediate values are returned; a float graph evaluates in float64', () => {
    const graph = loadZkGraph(demo.int8Model)
    const image = demo.samples[3]!.image
    const { values, output } = evaluateZkGraph(graph, image)
    const hidden = values.get('hidden')!
    assert.equal(hidden.length, 32)
    assert.ok(hidden.every((value) => Number.isInteger(value) && value >= 0 && value <= 255))
    assert.deepEqual(Array.from(output), demo.samples[3]!.int8Logits)
    const floatGraph = loadZkGraph(demo.floatModel)
    const scores = evaluateZkGraph(
      floatGraph,
      Float64Array.from(image, (byte) => byte / 255),
    ).output
    assert.equal(argmax(scores), demo.samples[3]!.floatPrediction)
  })

  it('behavior: mnist-12-int8 on MNIST test images, against onnxruntime and the float mnist-12', async (t) => {
    if (!existsSync(mnistModels) || !existsSync(mnistData)) return t.skip('MNIST assets absent')
    const int8Bytes = readFileSync(`${mnistModels}/mnist-12-int8.onnx`)
    const compiled = compileZkModel(int8Bytes, { name: 'mnist-12-int8' })
    const floatGraph = loadZkGraph(readFileSync(`${mnistModels}/mnist-12.onnx`))
    const { images, labels } = readMnist(300)
    const accuracy = measureZkAccuracy({
      graph: compiled.graph,
      reference: floatGraph,
      inputs: images,
      labels,
    })
    // onnxruntime's own int8 execution, to see how close the fixed-point requantization is
    const session = await InferenceSession.create(int8Bytes)
    let sameClass = 0
    let sameValues = 0
    try {
      for (const image of images) {
        const results = await session.run({
          Input3: new Tensor('float32', Float32Array.from(image), [1, 1, 28, 28]),
        })
        const ort = results.Plus214_Output_0!.data as Float32Array
        const ours = evaluateZkGraph(compiled.graph, image).output
        if (argmax(ort) === argmax(ours)) sameClass++
        if (ours.every((value, i) => Math.abs(value * compiled.outputScale! - ort[i]!) < 1e-3))
          sameValues++
      }
    } finally {
      await session.release()
    }
    console.log(
      `  mnist-12-int8 (${compiled.estimatedConstraints} estimated constraints, ${compiled.source.length} bytes of Circom) on ${images.length} MNIST test images: agreement with float mnist-12 ${(accuracy.agreement * 100).toFixed(1)}%, integer accuracy ${((accuracy.integerAccuracy ?? 0) * 100).toFixed(1)}%, float ${((accuracy.referenceAccuracy ?? 0) * 100).toFixed(1)}%; vs onnxruntime int8: same class ${sameClass}/${images.length}, identical outputs ${sameValues}/${images.length}`,
    )
    assert.ok(accuracy.agreement >= 0.97, `agreement ${accuracy.agreement}`)
    assert.ok(accuracy.integerAccuracy! >= 0.95)
    assert.ok(sameClass >= images.length * 0.99)
    assert.ok(compiled.estimatedConstraints > 2 ** 16, 'too big to prove with a 2^16 setup')
  })

  it('error: wrong input length or values outside the input dtype', () => {
    const graph = loadZkGraph(demo.int8Model)
    assert.throws(
      () => evaluateZkGraph(graph, new Uint8Array(10)),
      (error) => isBaseError(error, 'TENSOR_SHAPE_MISMATCH'),
    )
    const bad = new Array<number>(784).fill(0)
    bad[3] = 256
    assert.throws(
      () => evaluateZkGraph(graph, bad),
      (error) => isBaseError(error, 'TENSOR_INVALID'),
    )
    bad[3] = 1.5
    assert.throws(
      () => evaluateZkGraph(graph, bad),
      (error) => isBaseError(error, 'TENSOR_INVALID'),
    )
  })
})
