import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { isBaseError, namedTensorsFromJson } from '@verity/protocol'
import * as ort from 'onnxruntime-node'
import { generateDigits } from '../digits.ts'
import { argmax } from '../train.ts'
import {
  buildDemoCnn,
  type DemoCnn,
  defaultBuildDemoCnnOptions,
  demoCnnFiles,
  writeDemoCnn,
} from './buildDemoCnn.ts'
import { quantizedCnnForward } from './quantizeCnn.ts'

const mnistDirectory = fileURLToPath(
  new URL('../../../../../shared/assets/mnist/', import.meta.url),
)
const reduced = { trainCount: 600, testCount: 100, epochs: 2 }

let defaultBuild: Promise<DemoCnn> | undefined
/** The default recipe, built once for the tests that only read it. */
function buildDefault(): Promise<DemoCnn> {
  defaultBuild ??= buildDemoCnn()
  return defaultBuild
}

async function runModel(bytes: Uint8Array, input: ort.Tensor): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 })
  try {
    return (await session.run({ image: input })).logits!
  } finally {
    await session.release()
  }
}

/** Both exported models run in onnxruntime on a batch of uint8 images. */
async function onnxLogits(demo: DemoCnn, pixels: Uint8Array, count: number) {
  const shape = [count, 1, 28, 28]
  const floats = Float32Array.from(pixels, (v) => v / 255)
  const float = await runModel(demo.floatOnnx, new ort.Tensor('float32', floats, shape))
  const int8 = await runModel(demo.int8Onnx, new ort.Tensor('uint8', pixels, shape))
  return { float: float.data as Float32Array, int8: int8.data as Int32Array }
}

function top1(logits: Float32Array | Int32Array, labels: ArrayLike<number>): number {
  let correct = 0
  for (let n = 0; n < labels.length; n++)
    if (argmax(logits.subarray(n * 10, n * 10 + 10)) === labels[n]) correct++
  return correct / labels.length
}

test('default', async (t) => {
  const first = await buildDefault()
  const second = await buildDemoCnn()
  // the recipe is reproducible to the byte
  assert.ok(Buffer.from(first.floatOnnx).equals(Buffer.from(second.floatOnnx)))
  assert.ok(Buffer.from(first.int8Onnx).equals(Buffer.from(second.int8Onnx)))
  assert.deepEqual(second.sha256, first.sha256)
  const timeless = (demo: DemoCnn) => ({ ...demo.metrics, trainMs: 0, buildMs: 0 })
  assert.deepEqual(timeless(second), timeless(first))
  assert.equal(first.sha256.int8Onnx, createHash('sha256').update(first.int8Onnx).digest('hex'))
  // accuracy targets of the recipe
  const { metrics, recipe } = first
  assert.ok(metrics.floatTestAccuracy >= 0.97, `float accuracy ${metrics.floatTestAccuracy}`)
  assert.ok(metrics.int8TestAccuracy >= 0.97, `int8 accuracy ${metrics.int8TestAccuracy}`)
  assert.ok(metrics.agreement >= 0.99, `int8/float agreement ${metrics.agreement}`)
  assert.deepEqual(recipe.architecture.conv.output, [4, 13, 13])
  assert.deepEqual(recipe.architecture.pool.output, [4, 6, 6])
  assert.equal(recipe.architecture.features, 144)
  assert.equal(recipe.trainCount, defaultBuildDemoCnnOptions.trainCount)
  assert.equal(first.samples.length, 10)
  assert.equal(first.quantized.convOutputs, 676)
  t.diagnostic(
    `float ${metrics.floatTestAccuracy}, int8 ${metrics.int8TestAccuracy}, agreement ${metrics.agreement}, train ${(metrics.trainMs / 1000).toFixed(1)} s, build ${(metrics.buildMs / 1000).toFixed(1)} s / ${(second.metrics.buildMs / 1000).toFixed(1)} s, sizes ${first.floatOnnx.length}/${first.int8Onnx.length} bytes, shifts ${first.quantized.shift.join(',')}, sha256 ${first.sha256.floatOnnx} / ${first.sha256.int8Onnx}`,
  )
})

test('behavior: onnxruntime gives the integer reference bit for bit on the whole test set', async (t) => {
  const demo = await buildDefault()
  const testSet = generateDigits({ count: demo.recipe.testCount, seed: demo.recipe.data.testSeed })
  const pixels = new Uint8Array(testSet.images.length * 784)
  testSet.images.forEach((image, index) => {
    pixels.set(image, index * 784)
  })
  const measured = await onnxLogits(demo, pixels, testSet.images.length)
  const expected = new Int32Array(testSet.images.length * 10)
  testSet.images.forEach((image, n) => {
    expected.set(quantizedCnnForward(demo.quantized, image), n * 10)
  })
  assert.deepEqual(measured.int8, expected)
  // hence exactly the recipe's integer accuracy; float equal up to near-ties
  assert.equal(top1(measured.int8, testSet.labels), demo.metrics.int8TestAccuracy)
  const floatAccuracy = top1(measured.float, testSet.labels)
  assert.ok(Math.abs(floatAccuracy - demo.metrics.floatTestAccuracy) <= 0.001)
  t.diagnostic(`onnxruntime: float ${floatAccuracy}, int8 ${top1(measured.int8, testSet.labels)}`)
  // the sample JSON inputs run as they are and give the recorded outputs
  for (const sample of demo.samples) {
    const int8 = namedTensorsFromJson(sample.int8Input).image!
    const float = namedTensorsFromJson(sample.floatInput).image!
    assert.deepEqual(int8.shape, [1, 1, 28, 28])
    const int8Output = await runModel(
      demo.int8Onnx,
      new ort.Tensor('uint8', int8.data as Uint8Array, [...int8.shape]),
    )
    assert.deepEqual([...(int8Output.data as Int32Array)], sample.int8Logits)
    const floatOutput = await runModel(
      demo.floatOnnx,
      new ort.Tensor('float32', float.data as Float32Array, [...float.shape]),
    )
    assert.equal(argmax(floatOutput.data as Float32Array), sample.floatPrediction)
  }
})

test('behavior: accuracy on the first 1000 real MNIST test digits', async (t) => {
  const imagesPath = join(mnistDirectory, 't10k-images-idx3-ubyte.gz')
  const labelsPath = join(mnistDirectory, 't10k-labels-idx1-ubyte.gz')
  if (!existsSync(imagesPath) || !existsSync(labelsPath)) {
    t.skip('../shared/assets/mnist absent')
    return
  }
  const images = gunzipSync(await readFile(imagesPath))
  const labels = gunzipSync(await readFile(labelsPath))
  assert.equal(images.readUInt32BE(0), 2051) // idx3 magic
  assert.equal(labels.readUInt32BE(0), 2049) // idx1 magic
  const count = 1000
  const demo = await buildDefault()
  const measured = await onnxLogits(
    demo,
    new Uint8Array(images.subarray(16, 16 + count * 784)),
    count,
  )
  const truth = labels.subarray(8, 8 + count)
  const float = top1(measured.float, truth)
  const int8 = top1(measured.int8, truth)
  t.diagnostic(`MNIST t10k[0:1000] accuracy: float ${float}, int8 ${int8}`)
  // trained on synthetic digits only: require clearly better than chance (10%), nothing more
  assert.ok(float > 0.15 && int8 > 0.15)
})

test('behavior: writeDemoCnn writes deterministic files that match the build', async () => {
  const directories = [
    await mkdtemp(join(tmpdir(), 'verity-cnn-')),
    await mkdtemp(join(tmpdir(), 'verity-cnn-')),
  ]
  try {
    const [first, second] = [
      await writeDemoCnn(directories[0]!, reduced),
      await writeDemoCnn(directories[1]!, reduced),
    ]
    assert.deepEqual(first.files, [
      demoCnnFiles.floatOnnx,
      demoCnnFiles.int8Onnx,
      demoCnnFiles.recipe,
    ])
    for (const file of first.files) {
      const [a, b] = [
        await readFile(join(directories[0]!, file)),
        await readFile(join(directories[1]!, file)),
      ]
      assert.ok(a.equals(b), `${file} is identical across builds`)
    }
    assert.deepEqual(second.sha256, first.sha256)
    const recipe = JSON.parse(await readFile(join(first.outDir, demoCnnFiles.recipe), 'utf8'))
    const int8 = await readFile(join(first.outDir, demoCnnFiles.int8Onnx))
    assert.equal(recipe.models.int8.sha256, createHash('sha256').update(int8).digest('hex'))
    assert.equal(recipe.recipe.trainCount, reduced.trainCount)
    assert.equal(recipe.metrics.trainMs, undefined)
    assert.equal(recipe.metrics.buildMs, undefined)
    assert.deepEqual(
      recipe.samples.map((sample: { int8Logits: number[] }) => sample.int8Logits),
      first.samples.map((sample) => sample.int8Logits),
    )
    // a different seed or architecture gives different models
    const other = await buildDemoCnn({ ...reduced, seed: 2 })
    assert.notEqual(other.sha256.int8Onnx, first.sha256.int8Onnx)
    const wider = await buildDemoCnn({
      ...reduced,
      architecture: { channels: 2, kernelSize: 5, stride: 2, poolSize: 2 },
    })
    assert.deepEqual(wider.recipe.architecture.conv.output, [2, 12, 12])
    assert.equal(wider.quantized.featureSize, 72)
  } finally {
    for (const directory of directories) await rm(directory, { recursive: true, force: true })
  }
})

test('behavior: progress events arrive in order and an abort stops the build', async () => {
  const events: string[] = []
  await buildDemoCnn(
    { trainCount: 100, testCount: 20, epochs: 2 },
    {
      onProgress: (event) =>
        events.push(event.phase === 'train' ? `train${event.epoch}` : event.phase),
    },
  )
  assert.deepEqual(events, ['data', 'train0', 'train1', 'quantize', 'export'])
  const controller = new AbortController()
  const build = buildDemoCnn(
    { trainCount: 100, testCount: 20, epochs: 2 },
    {
      signal: controller.signal,
      onProgress: (event) => {
        if (event.phase === 'train') controller.abort(new Error('stop'))
      },
    },
  )
  await assert.rejects(build, /stop/)
})

test('error: invalid recipe options', async () => {
  for (const options of [
    { seed: -1 },
    { trainCount: 5 },
    { testCount: 1.5 },
    { epochs: 0 },
    { architecture: { channels: 0, kernelSize: 3, stride: 2, poolSize: 2 } },
  ])
    await assert.rejects(buildDemoCnn(options), (error) => isBaseError(error, 'INVALID_ARGUMENT'))
})
