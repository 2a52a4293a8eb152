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
import {
  buildDemoModels,
  type DemoModels,
  defaultBuildDemoModelsOptions,
  demoModelFiles,
  writeDemoModels,
} from './buildDemoModels.ts'
import { generateDigits } from './digits.ts'
import { quantizedForward } from './quantize.ts'
import { argmax, mlpForward } from './train.ts'

const mnistDirectory = fileURLToPath(new URL('../../../../shared/assets/mnist/', import.meta.url))

let defaultBuild: Promise<DemoModels> | undefined
/** The default recipe, built once for the tests that only read it. */
function buildDefault(): Promise<DemoModels> {
  defaultBuild ??= buildDemoModels()
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

/** Top-1 accuracy of both exported models, run in onnxruntime, on uint8 images. */
async function onnxAccuracy(demo: DemoModels, pixels: Uint8Array, labels: ArrayLike<number>) {
  const count = labels.length
  const shape = [count, 1, 28, 28]
  const floatLogits = (
    await runModel(
      demo.floatModel,
      new ort.Tensor(
        'float32',
        Float32Array.from(pixels, (v) => v / 255),
        shape,
      ),
    )
  ).data as Float32Array
  const int8Logits = (await runModel(demo.int8Model, new ort.Tensor('uint8', pixels, shape)))
    .data as Int32Array
  let floatCorrect = 0
  let int8Correct = 0
  for (let n = 0; n < count; n++) {
    if (argmax(floatLogits.subarray(n * 10, n * 10 + 10)) === labels[n]) floatCorrect++
    if (argmax(int8Logits.subarray(n * 10, n * 10 + 10)) === labels[n]) int8Correct++
  }
  return { float: floatCorrect / count, int8: int8Correct / count, floatLogits, int8Logits }
}

test('default', async (t) => {
  const first = await buildDefault()
  const second = await buildDemoModels()
  // the recipe is reproducible to the byte
  assert.ok(Buffer.from(first.floatModel).equals(Buffer.from(second.floatModel)))
  assert.ok(Buffer.from(first.int8Model).equals(Buffer.from(second.int8Model)))
  assert.deepEqual(second.sha256, first.sha256)
  assert.deepEqual({ ...second.metrics, trainMs: 0 }, { ...first.metrics, trainMs: 0 })
  assert.equal(first.sha256.floatModel, createHash('sha256').update(first.floatModel).digest('hex'))
  assert.equal(first.sha256.int8Model, createHash('sha256').update(first.int8Model).digest('hex'))
  // accuracy targets of the recipe
  const { metrics } = first
  assert.ok(metrics.floatTestAccuracy >= 0.97, `float accuracy ${metrics.floatTestAccuracy}`)
  assert.ok(metrics.int8TestAccuracy >= 0.97, `int8 accuracy ${metrics.int8TestAccuracy}`)
  assert.ok(metrics.agreement >= 0.99, `int8/float agreement ${metrics.agreement}`)
  assert.equal(first.recipe.seed, defaultBuildDemoModelsOptions.seed)
  assert.equal(first.recipe.trainCount, defaultBuildDemoModelsOptions.trainCount)
  assert.equal(first.samples.length, 10)
  t.diagnostic(
    `float ${metrics.floatTestAccuracy}, int8 ${metrics.int8TestAccuracy}, agreement ${metrics.agreement}, train ${(metrics.trainMs / 1000).toFixed(1)} s, sizes ${first.floatModel.length}/${first.int8Model.length} bytes, sha256 ${first.sha256.floatModel} / ${first.sha256.int8Model}`,
  )
})

test('behavior: the exported models in onnxruntime give the recipe metrics and sample outputs', async (t) => {
  const demo = await buildDefault()
  const { testSeed } = demo.recipe.data
  const testSet = generateDigits({ count: demo.recipe.testCount, seed: testSeed })
  const pixels = new Uint8Array(testSet.images.length * 784)
  testSet.images.forEach((image, index) => {
    pixels.set(image, index * 784)
  })
  const measured = await onnxAccuracy(demo, pixels, testSet.labels)
  // integer model: exact, so exactly the same accuracy; float: equal up to near-ties
  assert.equal(measured.int8, demo.metrics.int8TestAccuracy)
  assert.ok(Math.abs(measured.float - demo.metrics.floatTestAccuracy) <= 0.001)
  // every logit: int8 identical to the TypeScript integer reference; float within 1e-5 (relative
  // to the logit once it exceeds 1: float32 itself only resolves ~4e-6 at |logit| = 32)
  let maxError = 0
  let maxAbsoluteError = 0
  testSet.images.forEach((image, n) => {
    assert.deepEqual(
      measured.int8Logits.subarray(n * 10, n * 10 + 10),
      quantizedForward(demo.networks.int8, image),
    )
    const reference = mlpForward(
      demo.networks.float,
      Float32Array.from(image, (v) => v / 255),
    )
    for (let k = 0; k < 10; k++) {
      const error = Math.abs(reference[k]! - measured.floatLogits[n * 10 + k]!)
      maxAbsoluteError = Math.max(maxAbsoluteError, error)
      maxError = Math.max(maxError, error / Math.max(1, Math.abs(reference[k]!)))
    }
  })
  t.diagnostic(`float logits: max |onnxruntime - TypeScript| = ${maxAbsoluteError}`)
  assert.ok(maxError <= 1e-5, `max scaled |onnxruntime - TypeScript| = ${maxError}`)
  // the sample JSON inputs run as they are and give the recorded outputs
  for (const sample of demo.samples) {
    const int8 = namedTensorsFromJson(sample.int8Input).image!
    const float = namedTensorsFromJson(sample.floatInput).image!
    assert.deepEqual(int8.shape, [1, 1, 28, 28])
    const int8Output = await runModel(
      demo.int8Model,
      new ort.Tensor('uint8', int8.data as Uint8Array, [...int8.shape]),
    )
    assert.deepEqual([...(int8Output.data as Int32Array)], sample.int8Logits)
    const floatOutput = await runModel(
      demo.floatModel,
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
  const measured = await onnxAccuracy(
    demo,
    new Uint8Array(images.subarray(16, 16 + count * 784)),
    labels.subarray(8, 8 + count),
  )
  t.diagnostic(`MNIST t10k[0:1000] accuracy: float ${measured.float}, int8 ${measured.int8}`)
  // trained on synthetic digits only: require clearly better than chance (10%), nothing more
  assert.ok(measured.float > 0.15 && measured.int8 > 0.15)
})

test('behavior: writeDemoModels writes deterministic files that match the recipe', async () => {
  const options = { trainCount: 600, testCount: 100, epochs: 2 }
  const directories = [
    await mkdtemp(join(tmpdir(), 'verity-models-')),
    await mkdtemp(join(tmpdir(), 'verity-models-')),
  ]
  try {
    const [first, second] = [
      await writeDemoModels(directories[0]!, options),
      await writeDemoModels(directories[1]!, options),
    ]
    assert.deepEqual(first.files, second.files)
    assert.ok(first.files.includes('digits-mlp.onnx'))
    assert.ok(first.files.includes('digits-mlp-int8.onnx'))
    assert.ok(first.files.includes('recipe.json'))
    for (let label = 0; label < 10; label++)
      for (const suffix of ['png', 'float.json', 'int8.json'])
        assert.ok(first.files.includes(`samples/digit-${label}.${suffix}`))
    for (const file of first.files) {
      const [a, b] = [
        await readFile(join(directories[0]!, file)),
        await readFile(join(directories[1]!, file)),
      ]
      assert.ok(a.equals(b), `${file} is identical across builds`)
    }
    const recipe = JSON.parse(await readFile(join(first.outDir, demoModelFiles.recipe), 'utf8'))
    for (const [kind, file] of [
      ['float', demoModelFiles.floatModel],
      ['int8', demoModelFiles.int8Model],
    ] as const) {
      const bytes = await readFile(join(first.outDir, file))
      assert.equal(recipe.models[kind].sha256, createHash('sha256').update(bytes).digest('hex'))
    }
    assert.equal(recipe.recipe.trainCount, 600)
    assert.equal(recipe.metrics.trainMs, undefined)
    const sample = JSON.parse(
      await readFile(join(first.outDir, 'samples/digit-3.float.json'), 'utf8'),
    )
    assert.deepEqual(sample.image.shape, [1, 1, 28, 28])
    assert.equal(sample.image.dtype, 'float32')
    assert.equal(sample.image.data.length, 784)
    const int8 = JSON.parse(await readFile(join(first.outDir, 'samples/digit-3.int8.json'), 'utf8'))
    assert.equal(int8.image.dtype, 'uint8')
    // a different seed gives different models
    const other = await buildDemoModels({ ...options, seed: 2 })
    assert.notEqual(other.sha256.int8Model, first.sha256.int8Model)
  } finally {
    for (const directory of directories) await rm(directory, { recursive: true, force: true })
  }
})

test('behavior: progress events arrive in order and an abort stops the build', async () => {
  const events: string[] = []
  await buildDemoModels(
    { trainCount: 100, testCount: 20, epochs: 2 },
    {
      onProgress: (event) =>
        events.push(event.phase === 'train' ? `train${event.epoch}` : event.phase),
    },
  )
  assert.deepEqual(events, ['data', 'train0', 'train1', 'quantize', 'export'])
  const controller = new AbortController()
  const build = buildDemoModels(
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
  for (const options of [{ seed: -1 }, { trainCount: 5 }, { testCount: 1.5 }, { epochs: 0 }])
    await assert.rejects(buildDemoModels(options), (error) =>
      isBaseError(error, 'INVALID_ARGUMENT'),
    )
})
