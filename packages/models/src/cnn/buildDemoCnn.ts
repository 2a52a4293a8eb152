import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { BaseError, canonicalJson, type NamedTensorsJson, tensorToJson } from '@verity/protocol'
import type { BuildDemoModelsHooks, DemoSample } from '../buildDemoModels.ts'
import { generateDigits } from '../digits.ts'
import { encodePng } from '../encodePng.ts'
import { onnxProducer, onnxVersions } from '../onnxExport.ts'
import { weightLimit } from '../quantize.ts'
import { deriveSeed } from '../random.ts'
import { accuracy, argmax } from '../train.ts'
import {
  type CnnArchitecture,
  type CnnGeometry,
  cnnGeometry,
  defaultCnnArchitecture,
} from './cnnArchitecture.ts'
import { exportCnnFloatOnnx, exportCnnInt8Onnx } from './exportCnnOnnx.ts'
import { type QuantizedCnn, quantizeCnn, quantizedCnnForward } from './quantizeCnn.ts'
import { type Cnn, cnnForward, cnnToFloat32, defaultCnnTrainOptions, trainCnn } from './trainCnn.ts'

/** Knobs of the demo-CNN recipe. */
export type BuildDemoCnnOptions = {
  /** Recipe seed: every random choice (data, initialization, shuffles) derives from it. */
  seed?: number
  /** Number of synthetic training digits. */
  trainCount?: number
  /** Number of held-out synthetic test digits (generated from their own seed stream). */
  testCount?: number
  /** Training epochs. */
  epochs?: number
  /** Layer sizes; the default keeps the integer model's circuit below 2^16 constraints. */
  architecture?: CnnArchitecture
}

/** Progress of {@link buildDemoCnn}, in order: data, one train event per epoch, quantize, export. */
export type DemoCnnProgress =
  | { phase: 'data'; trainCount: number; testCount: number }
  | { phase: 'train'; epoch: number; epochs: number; loss: number }
  | { phase: 'quantize' }
  | { phase: 'export' }

/** Observers of a build (they never change its output). */
export type BuildDemoCnnHooks = Omit<BuildDemoModelsHooks, 'onProgress'> & {
  onProgress?: (event: DemoCnnProgress) => void
}

/**
 * Defaults of {@link buildDemoCnn}: the published demo CNN is built with exactly these. The same
 * seed as the MLP recipe gives the same synthetic training and test digits.
 *
 * @example
 * ```ts
 * await buildDemoCnn({ ...defaultBuildDemoCnnOptions, trainCount: 2000 })
 * ```
 */
export const defaultBuildDemoCnnOptions = {
  seed: 1,
  trainCount: 20_000,
  testCount: 2_000,
  epochs: defaultCnnTrainOptions.epochs,
  architecture: defaultCnnArchitecture,
} as const satisfies Required<BuildDemoCnnOptions>

/** Everything that determines the model bytes; stored in the models' metadata. */
export type DemoCnnRecipe = {
  name: 'digits-cnn'
  version: 1
  seed: number
  trainCount: number
  testCount: number
  data: { generator: 'verity-synthetic-digits'; trainSeed: number; testSeed: number }
  architecture: {
    input: [1, 28, 28]
    conv: { channels: number; kernel: number; stride: number; padding: 0; output: number[] }
    activation: 'relu'
    pool: { type: 'max'; kernel: number; stride: number; output: number[] }
    features: number
    output: number
  }
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
    conv: 'per-output-channel'
    dense: 'per-tensor'
    activations: 'uint8, power-of-two rescale with round-half-up'
    calibration: 'training set maximum'
  }
  producer: { name: string; version: string }
  onnx: { irVersion: number; opset: number }
}

/** Accuracy figures of a build (all deterministic except the timings). */
export type DemoCnnMetrics = {
  /** Top-1 accuracy of the float model (float32 weights) on the held-out synthetic test set. */
  floatTestAccuracy: number
  /** Top-1 accuracy of the integer model on the same test set. */
  int8TestAccuracy: number
  /** Fraction of test images on which the float and integer models predict the same class. */
  agreement: number
  /** Mean cross-entropy of the last training epoch. */
  finalTrainLoss: number
  /** Wall-clock training time in milliseconds (not part of the recipe: it varies). */
  trainMs: number
  /** Wall-clock time of the whole build in milliseconds (not part of the recipe). */
  buildMs: number
}

/** The outcome of the recipe: both ONNX files, the networks behind them, metrics and samples. */
export type DemoCnn = {
  /** ONNX bytes of the float32 model. */
  floatOnnx: Uint8Array
  /** ONNX bytes of the integer model. */
  int8Onnx: Uint8Array
  /** The float32-rounded network exported as `floatOnnx`. */
  float: Cnn
  /** The integer network exported as `int8Onnx`. */
  quantized: QuantizedCnn
  /** sha256 (hex) of each model file. */
  sha256: { floatOnnx: string; int8Onnx: string }
  metrics: DemoCnnMetrics
  /** One held-out test digit per class with its inputs and the int8 model's exact logits. */
  samples: DemoSample[]
  recipe: DemoCnnRecipe
}

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

function describe(geometry: CnnGeometry): string {
  const { channels, kernelSize, stride, convSize, poolSize, pooledSize, featureSize } = geometry
  return `CNN Conv ${kernelSize}x${kernelSize}/${stride} ${channels} channels [${channels},${convSize},${convSize}] - ReLU - MaxPool ${poolSize}x${poolSize} [${channels},${pooledSize},${pooledSize}] - dense ${featureSize}-10`
}

/**
 * Runs the demo-CNN recipe: generates synthetic digits, trains the float CNN (Conv 3×3 stride 2,
 * 4 channels → ReLU → MaxPool 2×2 → dense 144 → 10), quantizes it to the integer model, exports
 * both to ONNX and measures them on a held-out test set. Same options, same bytes, on every run
 * and machine.
 *
 * @example
 * ```ts
 * const cnn = await buildDemoCnn()
 * console.log(cnn.metrics.int8TestAccuracy, cnn.sha256.int8Onnx)
 * ```
 */
export async function buildDemoCnn(
  options: BuildDemoCnnOptions = {},
  hooks: BuildDemoCnnHooks = {},
): Promise<DemoCnn> {
  const buildStarted = performance.now()
  const { onProgress, signal } = hooks
  // yields to the event loop between phases so that spinners and signals get a turn
  const checkpoint = async (event: DemoCnnProgress) => {
    signal?.throwIfAborted()
    onProgress?.(event)
    await new Promise((resolve) => setImmediate(resolve))
    signal?.throwIfAborted()
  }
  const { seed, trainCount, testCount, epochs, architecture } = {
    ...defaultBuildDemoCnnOptions,
    ...options,
  }
  assertCount('seed', seed, 0)
  assertCount('trainCount', trainCount, 10)
  assertCount('testCount', testCount, 10)
  assertCount('epochs', epochs, 1)
  const geometry = cnnGeometry(architecture)
  const training = {
    ...defaultCnnTrainOptions,
    seed: deriveSeed(seed, 'cnn-init'),
    epochs,
    architecture,
  }
  const recipe: DemoCnnRecipe = {
    name: 'digits-cnn',
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
      conv: {
        channels: geometry.channels,
        kernel: geometry.kernelSize,
        stride: geometry.stride,
        padding: 0,
        output: [geometry.channels, geometry.convSize, geometry.convSize],
      },
      activation: 'relu',
      pool: {
        type: 'max',
        kernel: geometry.poolSize,
        stride: geometry.poolSize,
        output: [geometry.channels, geometry.pooledSize, geometry.pooledSize],
      },
      features: geometry.featureSize,
      output: geometry.outputSize,
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
      conv: 'per-output-channel',
      dense: 'per-tensor',
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
  const { model, epochLosses } = trainCnn(trainSet, training, {
    onEpoch: (epoch, loss) => onProgress?.({ phase: 'train', epoch, epochs, loss }),
    ...(signal ? { signal } : {}),
  })
  const trainMs = performance.now() - started
  await checkpoint({ phase: 'quantize' })
  const float = cnnToFloat32(model)
  const quantized = quantizeCnn(float, trainSet.images)

  const floatPredictions = testSet.images.map((image) => argmax(cnnForward(float, image)))
  const int8Predictions = testSet.images.map((image) =>
    argmax(quantizedCnnForward(quantized, image)),
  )
  const agreement =
    floatPredictions.filter((prediction, index) => prediction === int8Predictions[index]).length /
    testCount

  await checkpoint({ phase: 'export' })
  const rebuild = 'Rebuild with: node packages/models/src/cnn/buildDemoCnn.ts'
  const about = `recipe ${recipe.name} v${recipe.version}, seed ${seed}, ${trainCount} synthetic training digits, ${epochs} epochs`
  const metadata = { 'verity.recipe': canonicalJson(recipe) }
  const floatOnnx = exportCnnFloatOnnx(float, {
    docString: `Verity demo model: handwritten-digit classifier, ${describe(geometry)}, float32; input image = pixels / 255. Trained in TypeScript by @verity/models, ${about}. ${rebuild}`,
    metadata,
  })
  const int8Onnx = exportCnnInt8Onnx(quantized, {
    docString: `Verity demo model: handwritten-digit classifier, ${describe(geometry)}, integer-only (uint8 activations, 7-bit int8 weights, int32 logits; bit-exact). Quantized from the float model of @verity/models, ${about}. ${rebuild}`,
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
      int8Logits: Array.from(quantizedCnnForward(quantized, image)),
      floatPrediction: floatPredictions[index]!,
    })
  }

  const metrics: DemoCnnMetrics = {
    floatTestAccuracy: accuracy(testSet, (_, index) => floatPredictions[index]!),
    int8TestAccuracy: accuracy(testSet, (_, index) => int8Predictions[index]!),
    agreement,
    finalTrainLoss: epochLosses.at(-1)!,
    trainMs,
    buildMs: performance.now() - buildStarted,
  }
  return {
    floatOnnx,
    int8Onnx,
    float,
    quantized,
    sha256: { floatOnnx: sha256Hex(floatOnnx), int8Onnx: sha256Hex(int8Onnx) },
    metrics,
    samples,
    recipe,
  }
}

/**
 * File names written by {@link writeDemoCnn}.
 *
 * @example
 * ```ts
 * const int8Path = join(outDir, demoCnnFiles.int8Onnx) // …/digits-cnn-int8.onnx
 * ```
 */
export const demoCnnFiles = {
  floatOnnx: 'digits-cnn.onnx',
  int8Onnx: 'digits-cnn-int8.onnx',
  recipe: 'digits-cnn.recipe.json',
} as const

/** What {@link writeDemoCnn} wrote. */
export type WriteDemoCnnReturnType = DemoCnn & { outDir: string; files: string[] }

/**
 * Builds the demo CNN and writes `digits-cnn.onnx`, `digits-cnn-int8.onnx` and
 * `digits-cnn.recipe.json` (recipe, metrics without the timings, sha256 of each model, the
 * samples' labels and expected int8 logits). Every written file is deterministic; the names do not
 * collide with {@link writeDemoModels}' files, so both can share a folder.
 *
 * @example
 * ```ts
 * const { files } = await writeDemoCnn('.verity/demo-models')
 * ```
 */
export async function writeDemoCnn(
  outDir: string,
  options: BuildDemoCnnOptions = {},
  hooks: BuildDemoCnnHooks = {},
): Promise<WriteDemoCnnReturnType> {
  const demo = await buildDemoCnn(options, hooks)
  const directory = resolve(outDir)
  await mkdir(directory, { recursive: true })
  const { trainMs: _train, buildMs: _build, ...metrics } = demo.metrics
  const recipeJson = {
    recipe: demo.recipe,
    metrics,
    models: {
      float: {
        file: demoCnnFiles.floatOnnx,
        sha256: demo.sha256.floatOnnx,
        bytes: demo.floatOnnx.length,
      },
      int8: {
        file: demoCnnFiles.int8Onnx,
        sha256: demo.sha256.int8Onnx,
        bytes: demo.int8Onnx.length,
        logitsScale: demo.quantized.outputScale,
      },
    },
    samples: demo.samples.map((sample) => ({
      label: sample.label,
      int8Logits: sample.int8Logits,
      floatPrediction: sample.floatPrediction,
    })),
  }
  const files: [string, Uint8Array | string][] = [
    [demoCnnFiles.floatOnnx, demo.floatOnnx],
    [demoCnnFiles.int8Onnx, demo.int8Onnx],
    [demoCnnFiles.recipe, `${JSON.stringify(recipeJson, null, 2)}\n`],
  ]
  for (const [name, content] of files) await writeFile(join(directory, name), content)
  return { ...demo, outDir: directory, files: files.map(([name]) => name) }
}

if (import.meta.main) {
  const outDir = process.argv[2] ?? '.verity/demo-models'
  const percent = (value: number) => `${(value * 100).toFixed(2)}%`
  const demo = await writeDemoCnn(
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
  console.log(`Demo CNN written to ${demo.outDir}`)
  console.log(`  float test accuracy   ${percent(metrics.floatTestAccuracy)}`)
  console.log(`  int8 test accuracy    ${percent(metrics.int8TestAccuracy)}`)
  console.log(`  int8/float agreement  ${percent(metrics.agreement)}`)
  console.log(`  training time         ${(metrics.trainMs / 1000).toFixed(1)} s`)
  console.log(`  build time            ${(metrics.buildMs / 1000).toFixed(1)} s`)
  for (const kind of ['floatOnnx', 'int8Onnx'] as const)
    console.log(`  ${demoCnnFiles[kind]}  ${demo[kind].length} bytes  sha256 ${demo.sha256[kind]}`)
}
