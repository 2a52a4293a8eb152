import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { BaseError, canonicalJson, type NamedTensorsJson, tensorToJson } from '@verity/protocol'
import { generateDigits } from './digits.ts'
import { encodePng } from './encodePng.ts'
import { exportFloatOnnx, exportInt8Onnx, onnxProducer, onnxVersions } from './onnxExport.ts'
import { type QuantizedMlp, quantizedForward, quantizeMlp, weightLimit } from './quantize.ts'
import { deriveSeed } from './random.ts'
import {
  accuracy,
  argmax,
  defaultTrainOptions,
  type Mlp,
  mlpForward,
  mlpToFloat32,
  trainMlp,
} from './train.ts'

/** Knobs of the demo-model recipe. */
export type BuildDemoModelsOptions = {
  /** Recipe seed: every random choice (data, initialization, shuffles) derives from it. */
  seed?: number
  /** Number of synthetic training digits. */
  trainCount?: number
  /** Number of held-out synthetic test digits (generated from their own seed stream). */
  testCount?: number
  /** Training epochs. */
  epochs?: number
}

/** Progress of {@link buildDemoModels}, in order: data, one train event per epoch, quantize, export. */
export type DemoModelsProgress =
  | { phase: 'data'; trainCount: number; testCount: number }
  | { phase: 'train'; epoch: number; epochs: number; loss: number }
  | { phase: 'quantize' }
  | { phase: 'export' }

/** Observers of a build (they never change its output). */
export type BuildDemoModelsHooks = {
  onProgress?: (event: DemoModelsProgress) => void
  /** Checked between phases and epochs; an aborted signal rejects with its reason. */
  signal?: AbortSignal
}

/**
 * Defaults of {@link buildDemoModels}: the published demo models are built with exactly these.
 *
 * @example
 * ```ts
 * await buildDemoModels({ ...defaultBuildDemoModelsOptions, trainCount: 2000 })
 * ```
 */
export const defaultBuildDemoModelsOptions = {
  seed: 1,
  trainCount: 20_000,
  testCount: 2_000,
  epochs: defaultTrainOptions.epochs,
} as const satisfies Required<BuildDemoModelsOptions>

/** Everything that determines the model bytes; stored in the models' metadata and recipe.json. */
export type DemoModelsRecipe = {
  name: 'digits-mlp'
  version: 1
  seed: number
  trainCount: number
  testCount: number
  data: { generator: 'verity-synthetic-digits'; trainSeed: number; testSeed: number }
  architecture: { input: [1, 28, 28]; hidden: number; output: number; activation: 'relu' }
  training: {
    initSeed: number
    epochs: number
    batchSize: number
    optimizer: 'sgd-momentum'
    learningRate: number
    momentum: number
    weightDecay: number
  }
  quantization: {
    weights: 'int8 symmetric, 7-bit values'
    weightLimit: number
    layer1: 'per-output-channel'
    layer2: 'per-tensor'
    activations: 'uint8, power-of-two rescale with round-half-up'
    calibration: 'training set maximum'
  }
  producer: { name: string; version: string }
  onnx: { irVersion: number; opset: number }
}

/** Accuracy figures of a build (all deterministic except `trainMs`). */
export type DemoModelsMetrics = {
  /** Top-1 accuracy of the exported float32 model on the held-out synthetic test set. */
  floatTestAccuracy: number
  /** Top-1 accuracy of the integer model on the same test set. */
  int8TestAccuracy: number
  /** Fraction of test images on which the float and integer models predict the same class. */
  agreement: number
  /** Mean cross-entropy of the last training epoch. */
  finalTrainLoss: number
  /** Wall-clock training time in milliseconds (not part of the recipe: it varies). */
  trainMs: number
}

/** One sample digit with its model inputs in Verity's JSON tensor form. */
export type DemoSample = {
  label: number
  /** 28×28 uint8 pixels, row-major. */
  image: Uint8Array
  png: Uint8Array
  /** `{ image: float32 [1, 1, 28, 28] }` with pixels / 255: input of the float model. */
  floatInput: NamedTensorsJson
  /** `{ image: uint8 [1, 1, 28, 28] }`: input of the int8 model. */
  int8Input: NamedTensorsJson
  /** The int8 model's exact output for this input (int32 logits). */
  int8Logits: number[]
  /** The float model's predicted class. */
  floatPrediction: number
}

/** The outcome of the recipe: both ONNX files, their metrics, samples and the recipe itself. */
export type DemoModels = {
  /** ONNX bytes of the float32 model. */
  floatModel: Uint8Array
  /** ONNX bytes of the integer model. */
  int8Model: Uint8Array
  /** The in-memory models behind the files (float32-rounded MLP and integer MLP). */
  networks: { float: Mlp; int8: QuantizedMlp }
  /** sha256 (hex) of each model file. */
  sha256: { floatModel: string; int8Model: string }
  /** Real value of one unit of the int8 model's int32 logits. */
  int8LogitsScale: number
  metrics: DemoModelsMetrics
  samples: DemoSample[]
  recipe: DemoModelsRecipe
}

/**
 * File names written by {@link writeDemoModels}.
 *
 * @example
 * ```ts
 * const int8Path = join(outDir, demoModelFiles.int8Model) // …/digits-mlp-int8.onnx
 * ```
 */
export const demoModelFiles = {
  floatModel: 'digits-mlp.onnx',
  int8Model: 'digits-mlp-int8.onnx',
  recipe: 'recipe.json',
  samples: 'samples',
} as const

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

function assertCount(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `${name} must be an integer >= ${min}; got ${String(value)}.`,
      { metaMessages: ['Omit the option to use the default recipe.'] },
    )
}

function sampleInputs(image: Uint8Array): {
  floatInput: NamedTensorsJson
  int8Input: NamedTensorsJson
} {
  const shape = [1, 1, 28, 28]
  const floats = Float32Array.from(image, (value) => value / 255)
  return {
    floatInput: {
      image: tensorToJson({ dtype: 'float32', shape, data: floats }, { encoding: 'data' }),
    },
    int8Input: {
      image: tensorToJson({ dtype: 'uint8', shape, data: image.slice() }, { encoding: 'data' }),
    },
  }
}

/**
 * Runs the demo-model recipe: generates synthetic digits, trains the float MLP 784→32→10,
 * quantizes it to the integer model, exports both to ONNX and measures them on a held-out test
 * set. Same options, same bytes, on every run and machine.
 *
 * @example
 * ```ts
 * const demo = await buildDemoModels()
 * console.log(demo.metrics.floatTestAccuracy, demo.sha256.int8Model)
 * ```
 */
export async function buildDemoModels(
  options: BuildDemoModelsOptions = {},
  hooks: BuildDemoModelsHooks = {},
): Promise<DemoModels> {
  const { onProgress, signal } = hooks
  // yields to the event loop between phases so that spinners and signals get a turn
  const checkpoint = async (event: DemoModelsProgress) => {
    signal?.throwIfAborted()
    onProgress?.(event)
    await new Promise((resolve) => setImmediate(resolve))
    signal?.throwIfAborted()
  }
  const { seed, trainCount, testCount, epochs } = { ...defaultBuildDemoModelsOptions, ...options }
  assertCount('seed', seed, 0)
  assertCount('trainCount', trainCount, 10)
  assertCount('testCount', testCount, 10)
  assertCount('epochs', epochs, 1)
  const training = { ...defaultTrainOptions, seed: deriveSeed(seed, 'init'), epochs }
  const recipe: DemoModelsRecipe = {
    name: 'digits-mlp',
    version: 1,
    seed,
    trainCount,
    testCount,
    data: {
      generator: 'verity-synthetic-digits',
      trainSeed: deriveSeed(seed, 'train-data'),
      testSeed: deriveSeed(seed, 'test-data'),
    },
    architecture: {
      input: [1, 28, 28],
      hidden: training.hiddenSize,
      output: 10,
      activation: 'relu',
    },
    training: {
      initSeed: training.seed,
      epochs,
      batchSize: training.batchSize,
      optimizer: 'sgd-momentum',
      learningRate: training.learningRate,
      momentum: training.momentum,
      weightDecay: training.weightDecay,
    },
    quantization: {
      weights: 'int8 symmetric, 7-bit values',
      weightLimit,
      layer1: 'per-output-channel',
      layer2: 'per-tensor',
      activations: 'uint8, power-of-two rescale with round-half-up',
      calibration: 'training set maximum',
    },
    producer: { name: onnxProducer.name, version: onnxProducer.version },
    onnx: { irVersion: onnxVersions.irVersion, opset: onnxVersions.opset },
  }

  await checkpoint({ phase: 'data', trainCount, testCount })
  const trainSet = generateDigits({ count: trainCount, seed: recipe.data.trainSeed })
  const testSet = generateDigits({ count: testCount, seed: recipe.data.testSeed })
  const started = performance.now()
  const { model, epochLosses } = trainMlp(trainSet, training, {
    onEpoch: (epoch, loss) => onProgress?.({ phase: 'train', epoch, epochs, loss }),
    ...(signal ? { signal } : {}),
  })
  const trainMs = performance.now() - started
  await checkpoint({ phase: 'quantize' })
  const floatModel = mlpToFloat32(model)
  const quantized = quantizeMlp(floatModel, trainSet.images)

  const floatPredictions = testSet.images.map((image) => argmax(mlpForward(floatModel, image)))
  const int8Predictions = testSet.images.map((image) => argmax(quantizedForward(quantized, image)))
  const agreement =
    floatPredictions.filter((prediction, index) => prediction === int8Predictions[index]).length /
    testCount
  const metrics: DemoModelsMetrics = {
    floatTestAccuracy: accuracy(testSet, (_, index) => floatPredictions[index]!),
    int8TestAccuracy: accuracy(testSet, (_, index) => int8Predictions[index]!),
    agreement,
    finalTrainLoss: epochLosses.at(-1)!,
    trainMs,
  }

  await checkpoint({ phase: 'export' })
  const rebuild = 'Rebuild with: node packages/models/src/buildDemoModels.ts'
  const about = `recipe ${recipe.name} v${recipe.version}, seed ${seed}, ${trainCount} synthetic training digits, ${epochs} epochs`
  const metadata = { 'verity.recipe': canonicalJson(recipe) }
  const floatBytes = exportFloatOnnx(floatModel, {
    docString: `Verity demo model: handwritten-digit classifier, MLP 784-32-10 (ReLU), float32; input image = pixels / 255. Trained in TypeScript by @verity/models, ${about}. ${rebuild}`,
    metadata,
  })
  const int8Bytes = exportInt8Onnx(quantized, {
    docString: `Verity demo model: handwritten-digit classifier, MLP 784-32-10 (ReLU), integer-only (uint8 activations, 7-bit int8 weights, int32 logits; bit-exact). Quantized from the float model of @verity/models, ${about}. ${rebuild}`,
    metadata: { ...metadata, 'verity.logits_scale': String(quantized.outputScale) },
  })

  const samples: DemoSample[] = []
  for (let label = 0; label < 10; label++) {
    const index = testSet.labels.indexOf(label)
    if (index < 0) continue
    const image = testSet.images[index]!
    samples.push({
      label,
      image,
      png: encodePng(image),
      ...sampleInputs(image),
      int8Logits: Array.from(quantizedForward(quantized, image)),
      floatPrediction: floatPredictions[index]!,
    })
  }

  return {
    floatModel: floatBytes,
    int8Model: int8Bytes,
    networks: { float: floatModel, int8: quantized },
    sha256: { floatModel: sha256Hex(floatBytes), int8Model: sha256Hex(int8Bytes) },
    int8LogitsScale: quantized.outputScale,
    metrics,
    samples,
    recipe,
  }
}

/** What {@link writeDemoModels} wrote. */
export type WriteDemoModelsReturnType = DemoModels & { outDir: string; files: string[] }

/**
 * Builds the demo models and writes `digits-mlp.onnx`, `digits-mlp-int8.onnx`,
 * `samples/digit-<label>.png` with `.float.json` and `.int8.json` inputs, and `recipe.json`
 * (recipe, metrics without the timing, sha256 of each model, expected int8 outputs of the samples).
 * Every written file is deterministic.
 *
 * @example
 * ```ts
 * const { files } = await writeDemoModels('.verity/demo-models')
 * ```
 */
export async function writeDemoModels(
  outDir: string,
  options: BuildDemoModelsOptions = {},
  hooks: BuildDemoModelsHooks = {},
): Promise<WriteDemoModelsReturnType> {
  const demo = await buildDemoModels(options, hooks)
  const directory = resolve(outDir)
  const samplesDirectory = join(directory, demoModelFiles.samples)
  await mkdir(samplesDirectory, { recursive: true })
  const files: [string, Uint8Array | string][] = [
    [demoModelFiles.floatModel, demo.floatModel],
    [demoModelFiles.int8Model, demo.int8Model],
  ]
  for (const sample of demo.samples) {
    const base = `${demoModelFiles.samples}/digit-${sample.label}`
    files.push([`${base}.png`, sample.png])
    files.push([`${base}.float.json`, `${JSON.stringify(sample.floatInput)}\n`])
    files.push([`${base}.int8.json`, `${JSON.stringify(sample.int8Input)}\n`])
  }
  const { trainMs: _, ...metrics } = demo.metrics
  const recipeJson = {
    recipe: demo.recipe,
    metrics,
    models: {
      float: {
        file: demoModelFiles.floatModel,
        sha256: demo.sha256.floatModel,
        bytes: demo.floatModel.length,
      },
      int8: {
        file: demoModelFiles.int8Model,
        sha256: demo.sha256.int8Model,
        bytes: demo.int8Model.length,
        logitsScale: demo.int8LogitsScale,
      },
    },
    samples: demo.samples.map((sample) => ({
      label: sample.label,
      png: `${demoModelFiles.samples}/digit-${sample.label}.png`,
      floatInput: `${demoModelFiles.samples}/digit-${sample.label}.float.json`,
      int8Input: `${demoModelFiles.samples}/digit-${sample.label}.int8.json`,
      int8Logits: sample.int8Logits,
      floatPrediction: sample.floatPrediction,
    })),
  }
  files.push([demoModelFiles.recipe, `${JSON.stringify(recipeJson, null, 2)}\n`])
  for (const [name, content] of files) await writeFile(join(directory, name), content)
  return { ...demo, outDir: directory, files: files.map(([name]) => name) }
}

if (import.meta.main) {
  const outDir = process.argv[2] ?? '.verity/demo-models'
  const percent = (value: number) => `${(value * 100).toFixed(2)}%`
  const demo = await writeDemoModels(
    outDir,
    {},
    {
      onProgress: (event) => {
        if (event.phase === 'data')
          console.log(`Generating ${event.trainCount} + ${event.testCount} synthetic digits…`)
        else if (event.phase === 'train')
          console.log(`  epoch ${event.epoch + 1}/${event.epochs}  loss ${event.loss.toFixed(4)}`)
        else console.log(`${event.phase === 'quantize' ? 'Quantizing' : 'Exporting'}…`)
      },
    },
  )
  const { metrics } = demo
  console.log(`Demo models written to ${demo.outDir}`)
  console.log(`  float test accuracy   ${percent(metrics.floatTestAccuracy)}`)
  console.log(`  int8 test accuracy    ${percent(metrics.int8TestAccuracy)}`)
  console.log(`  int8/float agreement  ${percent(metrics.agreement)}`)
  console.log(`  training time         ${(metrics.trainMs / 1000).toFixed(1)} s`)
  console.log(
    `  ${demoModelFiles.floatModel}       ${demo.floatModel.length} bytes  sha256 ${demo.sha256.floatModel}`,
  )
  console.log(
    `  ${demoModelFiles.int8Model}  ${demo.int8Model.length} bytes  sha256 ${demo.sha256.int8Model}`,
  )
}
