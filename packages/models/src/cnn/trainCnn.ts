import { BaseError } from '@verity/protocol'
import { deterministicExp, deterministicLog } from '../deterministicMath.ts'
import type { DigitDataset } from '../digits.ts'
import { createRandom } from '../random.ts'
import { assertDigitDataset, type TrainHooks } from '../train.ts'
import {
  type CnnArchitecture,
  type CnnGeometry,
  cnnGeometry,
  defaultCnnArchitecture,
} from './cnnArchitecture.ts'

/**
 * The float CNN over a 28×28 image scaled to [0, 1]:
 *
 * ```
 * conv[c, i, j]  = convBias[c] + Σ_{a, b} convWeight[c, 0, a, b] · x[i·stride + a, j·stride + b]
 * pooled[c, u, v] = max over the pool window at (u, v) of relu(conv[c, ·, ·])
 * logits[k]      = fcBias[k] + Σ_f pooled[f] · fcWeight[f, k]   (f = c·pooled² + u·pooled + v)
 * ```
 *
 * Weights are stored as ONNX takes them: `convWeight` `[channels, 1, k, k]`, `fcWeight`
 * input-major `[featureSize, 10]` (Gemm / MatMulInteger layout).
 */
export type Cnn = CnnGeometry & {
  readonly convWeight: Float64Array
  readonly convBias: Float64Array
  readonly fcWeight: Float64Array
  readonly fcBias: Float64Array
}

/** Training hyper-parameters of {@link trainCnn}; see {@link defaultCnnTrainOptions}. */
export type CnnTrainOptions = {
  /** Seed of weight initialization and of the per-epoch shuffles. */
  seed: number
  architecture?: CnnArchitecture
  epochs?: number
  batchSize?: number
  /** Initial learning rate of SGD with momentum; decays linearly to 5% of it by the last step. */
  learningRate?: number
  momentum?: number
  /** L2 weight decay on the weights (not the biases); keeps them small for 7-bit quantization. */
  weightDecay?: number
}

/**
 * Defaults of {@link trainCnn}.
 *
 * @example
 * ```ts
 * trainCnn(dataset, { ...defaultCnnTrainOptions, epochs: 2 })
 * ```
 */
export const defaultCnnTrainOptions = {
  seed: 1,
  architecture: defaultCnnArchitecture,
  epochs: 10,
  batchSize: 32,
  learningRate: 0.05,
  momentum: 0.9,
  weightDecay: 5e-4,
} as const satisfies Required<CnnTrainOptions>

/** Training outcome: the model and the mean cross-entropy of every epoch. */
export type CnnTrainResult = { model: Cnn; epochLosses: number[] }

/** Scratch buffers of one forward pass. */
type Activations = {
  /** Pre-activation convolution outputs, [channels, convSize, convSize]. */
  conv: Float64Array
  /** relu + max-pool outputs, [featureSize]. */
  pooled: Float64Array
  /** Index into `conv` of each pooled value's window maximum (the first one on ties). */
  poolIndex: Int32Array
  logits: Float64Array
}

function createActivations(model: CnnGeometry): Activations {
  return {
    conv: new Float64Array(model.convOutputs),
    pooled: new Float64Array(model.featureSize),
    poolIndex: new Int32Array(model.featureSize),
    logits: new Float64Array(model.outputSize),
  }
}

type Weights = Pick<Cnn, 'convWeight' | 'convBias' | 'fcWeight' | 'fcBias'>

/** Forward pass of one image (values in [0, 1]) into `out`, in a fixed order (float64). */
function forwardInto(model: CnnGeometry, weights: Weights, x: Float64Array, out: Activations) {
  const { channels, kernelSize, stride, imageSize, convSize, poolSize, pooledSize } = model
  const { featureSize, outputSize } = model
  const { convWeight, convBias, fcWeight, fcBias } = weights
  const { conv, pooled, poolIndex, logits } = out
  const taps = kernelSize * kernelSize
  for (let c = 0; c < channels; c++) {
    const bias = convBias[c]!
    for (let i = 0; i < convSize; i++)
      for (let j = 0; j < convSize; j++) {
        let sum = bias
        for (let a = 0; a < kernelSize; a++) {
          const row = (i * stride + a) * imageSize + j * stride
          const w = c * taps + a * kernelSize
          for (let b = 0; b < kernelSize; b++) sum += convWeight[w + b]! * x[row + b]!
        }
        conv[(c * convSize + i) * convSize + j] = sum
      }
  }
  for (let c = 0; c < channels; c++)
    for (let u = 0; u < pooledSize; u++)
      for (let v = 0; v < pooledSize; v++) {
        let best = (c * convSize + u * poolSize) * convSize + v * poolSize
        for (let du = 0; du < poolSize; du++)
          for (let dv = 0; dv < poolSize; dv++) {
            const index = (c * convSize + u * poolSize + du) * convSize + v * poolSize + dv
            if (conv[index]! > conv[best]!) best = index
          }
        const f = (c * pooledSize + u) * pooledSize + v
        poolIndex[f] = best
        pooled[f] = Math.max(0, conv[best]!)
      }
  logits.set(fcBias)
  for (let f = 0; f < featureSize; f++) {
    const p = pooled[f]!
    if (p === 0) continue
    const row = f * outputSize
    for (let k = 0; k < outputSize; k++) logits[k] = logits[k]! + p * fcWeight[row + k]!
  }
}

/**
 * Forward and backward pass of one image (values in [0, 1]) with softmax cross-entropy: adds the
 * gradients to `gradients` (convWeight, convBias, fcWeight, fcBias) and returns the loss.
 */
function accumulateGradients(
  model: CnnGeometry,
  weights: Weights,
  x: Float64Array,
  label: number,
  activations: Activations,
  gradients: readonly Float64Array[],
): number {
  const { kernelSize, stride, imageSize, convSize, featureSize, outputSize } = model
  const [gConv, gConvBias, gFc, gFcBias] = gradients as [
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
  ]
  const { pooled, poolIndex, logits: z } = activations
  const taps = kernelSize * kernelSize
  const planeSize = convSize * convSize
  forwardInto(model, weights, x, activations)
  // softmax cross-entropy = log(Σ exp(z − max)) − (z_label − max)
  let max = Number.NEGATIVE_INFINITY
  for (let k = 0; k < outputSize; k++) if (z[k]! > max) max = z[k]!
  const logitOfLabel = z[label]!
  let sum = 0
  for (let k = 0; k < outputSize; k++) {
    const e = deterministicExp(z[k]! - max)
    z[k] = e
    sum += e
  }
  const loss = deterministicLog(sum) - (logitOfLabel - max)
  // backward: dz = softmax − onehot
  for (let k = 0; k < outputSize; k++) z[k] = z[k]! / sum
  z[label] = z[label]! - 1
  for (let k = 0; k < outputSize; k++) gFcBias[k] = gFcBias[k]! + z[k]!
  for (let f = 0; f < featureSize; f++) {
    const p = pooled[f]!
    const row = f * outputSize
    let dp = 0
    for (let k = 0; k < outputSize; k++) {
      const dz = z[k]!
      gFc[row + k] = gFc[row + k]! + p * dz
      dp += dz * weights.fcWeight[row + k]!
    }
    // ReLU: no gradient where the window maximum was not positive; max-pool: only to it.
    // Pool windows do not overlap, so each convolution output gets at most one gradient.
    if (p <= 0) continue
    const at = poolIndex[f]!
    const c = Math.floor(at / planeSize)
    const i = Math.floor((at - c * planeSize) / convSize)
    const j = at - c * planeSize - i * convSize
    gConvBias[c] = gConvBias[c]! + dp
    for (let a = 0; a < kernelSize; a++) {
      const pixelRow = (i * stride + a) * imageSize + j * stride
      const w = c * taps + a * kernelSize
      for (let b = 0; b < kernelSize; b++) gConv[w + b] = gConv[w + b]! + dp * x[pixelRow + b]!
    }
  }
  return loss
}

/**
 * Trains the CNN with minibatch SGD + momentum on softmax cross-entropy, with full backprop
 * through the dense layer, the max-pool (to the window's maximum), the ReLU and the convolution.
 * Fully deterministic: initialization and shuffles come from the seeded generator, loops run in a
 * fixed order on one thread and exp/log are the portable {@link deterministicExp} /
 * {@link deterministicLog}, so the same inputs give the same weights bit for bit everywhere.
 *
 * @example
 * ```ts
 * const dataset = generateDigits({ count: 2000, seed: 1 })
 * const { model } = trainCnn(dataset, { seed: 1, epochs: 2 })
 * ```
 */
export function trainCnn(
  dataset: DigitDataset,
  options: CnnTrainOptions,
  hooks: TrainHooks = {},
): CnnTrainResult {
  const settings = { ...defaultCnnTrainOptions, ...options }
  const { epochs, batchSize, learningRate, momentum, weightDecay } = settings
  const geometry = cnnGeometry(settings.architecture)
  assertDigitDataset(dataset, geometry.imageSize * geometry.imageSize)
  for (const [name, value] of Object.entries({ epochs, batchSize }))
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new BaseError(
        'INVALID_ARGUMENT',
        `${name} must be a positive integer; got ${String(value)}.`,
      )
  for (const [name, value] of Object.entries({ learningRate, momentum, weightDecay }))
    if (!Number.isFinite(value) || value < 0)
      throw new BaseError(
        'INVALID_ARGUMENT',
        `${name} must be a finite number >= 0; got ${String(value)}.`,
      )
  const { channels, kernelSize, featureSize, outputSize } = geometry
  const taps = kernelSize * kernelSize

  // He initialization (fan-in: the kernel taps, then the pooled features)
  const random = createRandom(settings.seed)
  const convWeight = new Float64Array(channels * taps)
  const convBias = new Float64Array(channels)
  const fcWeight = new Float64Array(featureSize * outputSize)
  const fcBias = new Float64Array(outputSize)
  const convStd = Math.sqrt(2 / taps)
  const fcStd = Math.sqrt(2 / featureSize)
  for (let i = 0; i < convWeight.length; i++) convWeight[i] = convStd * random.normal()
  for (let i = 0; i < fcWeight.length; i++) fcWeight[i] = fcStd * random.normal()
  const weights = { convWeight, convBias, fcWeight, fcBias }

  const parameters = [convWeight, convBias, fcWeight, fcBias]
  const gradients = parameters.map((p) => new Float64Array(p.length))
  const velocities = parameters.map((p) => new Float64Array(p.length))
  const inputs = dataset.images.map((image) => Float64Array.from(image, (value) => value / 255))
  const order = Array.from({ length: inputs.length }, (_, index) => index)
  const activations = createActivations(geometry)
  const batchesPerEpoch = Math.ceil(inputs.length / batchSize)
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
        const x = inputs[index]!
        const label = dataset.labels[index]!
        lossSum += accumulateGradients(geometry, weights, x, label, activations, gradients)
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
  return { model: { ...geometry, ...weights }, epochLosses }
}

/** Checks an image and scales uint8 pixels to [0, 1] (float inputs are taken as they are). */
function toInput(
  model: CnnGeometry,
  image: Uint8Array | Float32Array | Float64Array,
): Float64Array {
  const pixels = model.imageSize * model.imageSize
  if (image?.length !== pixels)
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `Expected ${pixels} input values (28×28); got ${String(image?.length)}.`,
      { metaMessages: ['Pass uint8 pixels or [0, 1] floats, row-major.'] },
    )
  return image instanceof Uint8Array
    ? Float64Array.from(image, (value) => value / 255)
    : Float64Array.from(image)
}

/**
 * Float forward pass of one image (uint8 pixels, scaled by 1/255, or values already in [0, 1]),
 * computed in float64; returns the logits.
 *
 * @example
 * ```ts
 * const logits = cnnForward(model, image) // Float64Array(10)
 * ```
 */
export function cnnForward(
  model: Cnn,
  image: Uint8Array | Float32Array | Float64Array,
): Float64Array {
  const activations = createActivations(model)
  forwardInto(model, model, toInput(model, image), activations)
  return activations.logits
}

/** Loss and parameter gradients of one example; see {@link cnnLossGradients}. */
export type CnnLossGradients = {
  loss: number
  convWeight: Float64Array
  convBias: Float64Array
  fcWeight: Float64Array
  fcBias: Float64Array
}

/**
 * Softmax cross-entropy of one labelled image and its exact gradient with respect to every
 * parameter: the backward pass {@link trainCnn} uses (exposed to check it against finite
 * differences). At a max-pool tie the gradient goes to the window's first maximum.
 *
 * @example
 * ```ts
 * const { loss, convWeight } = cnnLossGradients(model, image, 7)
 * ```
 */
export function cnnLossGradients(model: Cnn, image: Uint8Array, label: number): CnnLossGradients {
  const x = toInput(model, image)
  if (!Number.isInteger(label) || label < 0 || label >= model.outputSize)
    throw new BaseError('INVALID_ARGUMENT', `label must be an integer 0..9; got ${String(label)}.`)
  const gradients = [model.convWeight, model.convBias, model.fcWeight, model.fcBias].map(
    (p) => new Float64Array(p.length),
  )
  const loss = accumulateGradients(model, model, x, label, createActivations(model), gradients)
  const [convWeight, convBias, fcWeight, fcBias] = gradients as [
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
  ]
  return { loss, convWeight, convBias, fcWeight, fcBias }
}

/**
 * The model with every parameter rounded to float32, as the exported ONNX file holds it.
 *
 * @example
 * ```ts
 * const exported = cnnToFloat32(model)
 * ```
 */
export function cnnToFloat32(model: Cnn): Cnn {
  const round = (values: Float64Array) => Float64Array.from(new Float32Array(values))
  return {
    ...model,
    convWeight: round(model.convWeight),
    convBias: round(model.convBias),
    fcWeight: round(model.fcWeight),
    fcBias: round(model.fcBias),
  }
}
