import { BaseError } from '@verity/protocol'
import { deterministicExp, deterministicLog } from './deterministicMath.ts'
import type { DigitDataset } from './digits.ts'
import { createRandom } from './random.ts'

/**
 * A two-layer perceptron `logits = W2ᵀ · relu(W1ᵀ · x + b1) + b2` over a flattened 28×28 image
 * scaled to [0, 1]. Weights are stored input-major, exactly as ONNX `Gemm`/`MatMulInteger` take
 * them: `w1[i * hiddenSize + j]` connects pixel i to hidden unit j, `w2[j * outputSize + k]`
 * connects hidden unit j to class k.
 */
export type Mlp = {
  readonly inputSize: number
  readonly hiddenSize: number
  readonly outputSize: number
  readonly w1: Float64Array
  readonly b1: Float64Array
  readonly w2: Float64Array
  readonly b2: Float64Array
}

/** Training hyper-parameters. Every field has a default; see {@link defaultTrainOptions}. */
export type TrainOptions = {
  /** Seed of weight initialization and of the per-epoch shuffles. */
  seed: number
  hiddenSize?: number
  epochs?: number
  batchSize?: number
  /** Initial learning rate of SGD with momentum; decays linearly to 5% of it by the last step. */
  learningRate?: number
  momentum?: number
  /** L2 weight decay (keeps weights small, which helps 7-bit quantization). */
  weightDecay?: number
}

/**
 * Defaults of {@link trainMlp}.
 *
 * @example
 * ```ts
 * trainMlp(dataset, { ...defaultTrainOptions, epochs: 3 })
 * ```
 */
export const defaultTrainOptions = {
  seed: 1,
  hiddenSize: 32,
  epochs: 12,
  batchSize: 32,
  learningRate: 0.05,
  momentum: 0.9,
  weightDecay: 5e-4,
} as const satisfies Required<TrainOptions>

/** Observers of a training run (not part of the recipe: they never change the weights). */
export type TrainHooks = {
  /** Called after every epoch with its index (from 0) and mean cross-entropy. */
  onEpoch?: (epoch: number, loss: number) => void
  /** Checked between epochs; an aborted signal stops training with its reason. */
  signal?: AbortSignal
}

/** Training outcome: the model and the mean cross-entropy of every epoch. */
export type TrainResult = { model: Mlp; epochLosses: number[] }

const inputSize = 784
const outputSize = 10

/** Sparse form of an image: indices and [0, 1] values of its non-zero pixels. */
type SparseImage = { indices: Int32Array; values: Float64Array }

function toSparse(image: Uint8Array): SparseImage {
  let count = 0
  for (const value of image) if (value !== 0) count++
  const indices = new Int32Array(count)
  const values = new Float64Array(count)
  let k = 0
  for (let i = 0; i < image.length; i++) {
    const value = image[i]!
    if (value === 0) continue
    indices[k] = i
    values[k] = value / 255
    k++
  }
  return { indices, values }
}

/**
 * Checks a training set: one integer label 0..9 per image, `pixels` bytes per image. Throws
 * `INVALID_ARGUMENT` or `TENSOR_SHAPE_MISMATCH` naming the first bad entry.
 *
 * @example
 * ```ts
 * assertDigitDataset(generateDigits({ count: 10, seed: 1 }))
 * ```
 */
export function assertDigitDataset(dataset: DigitDataset, pixels = inputSize): void {
  if (dataset.images.length !== dataset.labels.length || dataset.images.length === 0)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `Expected a non-empty dataset with one label per image; got ${dataset.images.length} images and ${dataset.labels.length} labels.`,
    )
  dataset.images.forEach((image, index) => {
    if (image.length !== pixels)
      throw new BaseError(
        'TENSOR_SHAPE_MISMATCH',
        `Image ${index} has ${image.length} pixels; expected ${pixels} (28×28).`,
      )
  })
  dataset.labels.forEach((label, index) => {
    if (!Number.isInteger(label) || label < 0 || label >= outputSize)
      throw new BaseError(
        'INVALID_ARGUMENT',
        `Label ${index} is ${label}; expected an integer 0..${outputSize - 1}.`,
      )
  })
}

/** Softmax in place (portable exp), returning log(sum exp(z - max)) for the loss. */
function softmaxInPlace(z: Float64Array): number {
  let max = Number.NEGATIVE_INFINITY
  for (const value of z) if (value > max) max = value
  let sum = 0
  for (let k = 0; k < z.length; k++) {
    const e = deterministicExp(z[k]! - max)
    z[k] = e
    sum += e
  }
  for (let k = 0; k < z.length; k++) z[k] = z[k]! / sum
  return sum
}

/**
 * Trains the MLP with minibatch SGD + momentum on softmax cross-entropy. Fully deterministic:
 * He initialization and shuffles come from the seeded generator, loops run in a fixed order on one
 * thread, and exp is the portable {@link deterministicExp}, so the same inputs give the same
 * weights bit for bit on any JavaScript engine.
 *
 * @example
 * ```ts
 * const dataset = generateDigits({ count: 2000, seed: 1 })
 * const { model } = trainMlp(dataset, { seed: 1, epochs: 2 })
 * ```
 */
export function trainMlp(
  dataset: DigitDataset,
  options: TrainOptions,
  hooks: TrainHooks = {},
): TrainResult {
  assertDigitDataset(dataset)
  const settings = { ...defaultTrainOptions, ...options }
  const { hiddenSize, epochs, batchSize, learningRate, momentum, weightDecay } = settings
  for (const [name, value] of Object.entries({ hiddenSize, epochs, batchSize }))
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new BaseError(
        'INVALID_ARGUMENT',
        `${name} must be a positive integer; got ${String(value)}.`,
      )
  const random = createRandom(settings.seed)
  const w1 = new Float64Array(inputSize * hiddenSize)
  const b1 = new Float64Array(hiddenSize)
  const w2 = new Float64Array(hiddenSize * outputSize)
  const b2 = new Float64Array(outputSize)
  const std1 = Math.sqrt(2 / inputSize)
  const std2 = Math.sqrt(2 / hiddenSize)
  for (let i = 0; i < w1.length; i++) w1[i] = std1 * random.normal()
  for (let i = 0; i < w2.length; i++) w2[i] = std2 * random.normal()

  const parameters = [w1, b1, w2, b2]
  const gradients = parameters.map((p) => new Float64Array(p.length))
  const velocities = parameters.map((p) => new Float64Array(p.length))
  const [g1, gb1, g2, gb2] = gradients as [Float64Array, Float64Array, Float64Array, Float64Array]
  const samples = dataset.images.map(toSparse)
  const order = Array.from({ length: samples.length }, (_, index) => index)
  const hidden = new Float64Array(hiddenSize)
  const dHidden = new Float64Array(hiddenSize)
  const z = new Float64Array(outputSize)
  const batchesPerEpoch = Math.ceil(samples.length / batchSize)
  const totalSteps = epochs * batchesPerEpoch
  const epochLosses: number[] = []
  let step = 0

  for (let epoch = 0; epoch < epochs; epoch++) {
    hooks.signal?.throwIfAborted()
    random.shuffle(order)
    let lossSum = 0
    for (let start = 0; start < order.length; start += batchSize) {
      const end = Math.min(start + batchSize, order.length)
      for (const g of gradients) g.fill(0)
      for (let n = start; n < end; n++) {
        const index = order[n]!
        const { indices, values } = samples[index] as SparseImage
        const label = dataset.labels[index]!
        // forward
        hidden.set(b1)
        for (let p = 0; p < indices.length; p++) {
          const x = values[p]!
          const row = indices[p]! * hiddenSize
          for (let j = 0; j < hiddenSize; j++) hidden[j] = hidden[j]! + x * w1[row + j]!
        }
        for (let j = 0; j < hiddenSize; j++) if (hidden[j]! < 0) hidden[j] = 0
        z.set(b2)
        for (let j = 0; j < hiddenSize; j++) {
          const h = hidden[j]!
          if (h === 0) continue
          const row = j * outputSize
          for (let k = 0; k < outputSize; k++) z[k] = z[k]! + h * w2[row + k]!
        }
        const maxLogit = Math.max(...z)
        const logitOfLabel = z[label]!
        const sumExp = softmaxInPlace(z)
        // cross-entropy = log(sum exp(z - max)) - (z_label - max)
        lossSum += deterministicLog(sumExp) - (logitOfLabel - maxLogit)
        // backward: dz = softmax - onehot
        z[label] = z[label]! - 1
        for (let k = 0; k < outputSize; k++) gb2[k] = gb2[k]! + z[k]!
        for (let j = 0; j < hiddenSize; j++) {
          const h = hidden[j]!
          const row = j * outputSize
          let dh = 0
          for (let k = 0; k < outputSize; k++) {
            const dz = z[k]!
            g2[row + k] = g2[row + k]! + h * dz
            dh += dz * w2[row + k]!
          }
          dHidden[j] = h > 0 ? dh : 0
        }
        for (let j = 0; j < hiddenSize; j++) gb1[j] = gb1[j]! + dHidden[j]!
        for (let p = 0; p < indices.length; p++) {
          const x = values[p]!
          const row = indices[p]! * hiddenSize
          for (let j = 0; j < hiddenSize; j++) g1[row + j] = g1[row + j]! + x * dHidden[j]!
        }
      }
      // SGD with momentum, linear learning-rate decay, weight decay on the weights only
      const rate = learningRate * (1 - (0.95 * step) / totalSteps)
      const scale = 1 / (end - start)
      parameters.forEach((parameter, which) => {
        const gradient = gradients[which] as Float64Array
        const velocity = velocities[which] as Float64Array
        const decay = which % 2 === 0 ? weightDecay : 0
        for (let i = 0; i < parameter.length; i++) {
          const w = parameter[i]!
          const v = momentum * velocity[i]! - rate * (gradient[i]! * scale + decay * w)
          velocity[i] = v
          parameter[i] = w + v
        }
      })
      step++
    }
    epochLosses.push(lossSum / order.length)
    hooks.onEpoch?.(epoch, lossSum / order.length)
  }
  return { model: { inputSize, hiddenSize, outputSize, w1, b1, w2, b2 }, epochLosses }
}

/**
 * Float forward pass of one image (uint8 pixels, scaled by 1/255, or values already in [0, 1]),
 * computed in float64.
 *
 * @example
 * ```ts
 * const logits = mlpForward(model, image) // Float64Array(10)
 * ```
 */
export function mlpForward(
  model: Mlp,
  image: Uint8Array | Float32Array | Float64Array,
): Float64Array {
  const { hiddenSize, outputSize, w1, b1, w2, b2 } = model
  if (image.length !== model.inputSize)
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `Expected ${model.inputSize} input values; got ${image.length}.`,
    )
  const bytes = image instanceof Uint8Array
  const hidden = Float64Array.from(b1)
  for (let i = 0; i < image.length; i++) {
    const x = bytes ? image[i]! / 255 : image[i]!
    if (x === 0) continue
    const row = i * hiddenSize
    for (let j = 0; j < hiddenSize; j++) hidden[j] = hidden[j]! + x * w1[row + j]!
  }
  const logits = Float64Array.from(b2)
  for (let j = 0; j < hiddenSize; j++) {
    const h = Math.max(0, hidden[j]!)
    const row = j * outputSize
    for (let k = 0; k < outputSize; k++) logits[k] = logits[k]! + h * w2[row + k]!
  }
  return logits
}

/**
 * Index of the largest value (the first one on ties).
 *
 * @example
 * ```ts
 * argmax([0.1, 3, 2]) // 1
 * ```
 */
export function argmax(values: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i
  return best
}

/**
 * The model with every parameter rounded to float32, as the exported ONNX file holds it.
 *
 * @example
 * ```ts
 * const exported = mlpToFloat32(model)
 * ```
 */
export function mlpToFloat32(model: Mlp): Mlp {
  const round = (values: Float64Array) => Float64Array.from(new Float32Array(values))
  return {
    ...model,
    w1: round(model.w1),
    b1: round(model.b1),
    w2: round(model.w2),
    b2: round(model.b2),
  }
}

/**
 * Top-1 accuracy of a classifier over a dataset.
 *
 * @example
 * ```ts
 * accuracy(test, (image) => argmax(mlpForward(model, image))) // 0.97…
 * ```
 */
export function accuracy(
  dataset: DigitDataset,
  classify: (image: Uint8Array, index: number) => number,
): number {
  let correct = 0
  dataset.images.forEach((image, index) => {
    if (classify(image, index) === dataset.labels[index]) correct++
  })
  return dataset.images.length === 0 ? 0 : correct / dataset.images.length
}
