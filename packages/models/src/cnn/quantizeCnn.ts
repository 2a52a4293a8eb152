import { BaseError } from '@verity/protocol'
import { weightLimit } from '../quantize.ts'
import type { CnnGeometry } from './cnnArchitecture.ts'
import type { Cnn } from './trainCnn.ts'

/**
 * The integer CNN. Every operation is exact integer arithmetic (c = channel, f = flattened
 * pooled feature, k = class):
 *
 * ```
 * acc[c, i, j]   = convBias[c] + Σ_{a, b} image[i·s + a, j·s + b] · convWeight[c, 0, a, b]  (uint8 × int8 → int32)
 * act[c, i, j]   = clamp(trunc((acc[c, i, j] + round[c]) / divisor[c]), 0, 255)   (ReLU + requantize → uint8)
 * pooled[c, u, v] = max of act[c, ·, ·] over the pool window at (u, v)              (uint8)
 * logits[k]      = fcBias[k] + Σ_f pooled[f] · fcWeight[f, k]                      (uint8 × int8 → int32)
 * ```
 *
 * `divisor[c]` is a power of two `2^shift[c]` and `round[c]` its half (0 when the shift is 0), so the
 * rescale is a rounding right shift (`trunc` and `floor` agree wherever the clamp does not).
 * Real-valued meaning: `image / 255` is the float model's input and `logits · outputScale`
 * approximates the float model's logits.
 */
export type QuantizedCnn = CnnGeometry & {
  /** int8 weights (7-bit values), `[channels, 1, k, k]`. */
  readonly convWeight: Int8Array
  readonly convBias: Int32Array
  readonly shift: Int32Array
  readonly round: Int32Array
  readonly divisor: Int32Array
  /** int8 weights (7-bit values), input-major `[featureSize, 10]`. */
  readonly fcWeight: Int8Array
  readonly fcBias: Int32Array
  /** Per-channel scale of the convolution weights (float weight ≈ convWeight · scale). */
  readonly convScales: Float64Array
  /** Per-channel real value of one step of the uint8 activation. */
  readonly activationScales: Float64Array
  /** Real value of one unit of the int32 logits. */
  readonly outputScale: number
}

/** Every intermediate tensor of one integer forward pass (see {@link quantizedCnnTrace}). */
export type QuantizedCnnTrace = {
  /** int32 convolution accumulators with bias, `[channels, convSize, convSize]`. */
  accumulators: Int32Array
  /** uint8 activations after requantization, same shape. */
  activations: Uint8Array
  /** uint8 max-pooled features, flattened `[channels · pooledSize²]`. */
  pooled: Uint8Array
  /** int32 logits. */
  logits: Int32Array
}

function roundHalfAway(value: number): number {
  return value < 0 ? -Math.floor(-value + 0.5) : Math.floor(value + 0.5)
}

function assertImage(image: Uint8Array, pixels: number): void {
  if (!(image instanceof Uint8Array) || image.length !== pixels)
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `Expected a Uint8Array of ${pixels} pixels (28×28); got ${image?.constructor?.name} of ${String(image?.length)}.`,
      { metaMessages: ['Pass the raw uint8 pixels, row-major.'] },
    )
}

/** int32 convolution accumulators (bias included) of one image. */
function convAccumulators(
  model: Pick<QuantizedCnn, keyof CnnGeometry | 'convWeight' | 'convBias'>,
  image: Uint8Array,
  out: Int32Array,
): void {
  const { channels, kernelSize, stride, imageSize, convSize, convWeight, convBias } = model
  const taps = kernelSize * kernelSize
  for (let c = 0; c < channels; c++)
    for (let i = 0; i < convSize; i++)
      for (let j = 0; j < convSize; j++) {
        let sum = convBias[c]!
        for (let a = 0; a < kernelSize; a++) {
          const row = (i * stride + a) * imageSize + j * stride
          const w = c * taps + a * kernelSize
          for (let b = 0; b < kernelSize; b++) sum += image[row + b]! * convWeight[w + b]!
        }
        out[(c * convSize + i) * convSize + j] = sum
      }
}

/** Checks that no uint8 input can overflow an int32 accumulator (bias and rounding included). */
function assertNoOverflow(bounds: readonly number[], layer: string): void {
  bounds.forEach((bound, index) => {
    if (bound >= 2 ** 31)
      throw new BaseError(
        'INTERNAL',
        `Quantized ${layer} output ${index} can reach ${bound}, which overflows int32.`,
        { metaMessages: ['Retrain with more weight decay or a smaller bias.'] },
      )
  })
}

/**
 * Post-training quantization of a float CNN into a {@link QuantizedCnn}, like `quantizeMlp`:
 * per-output-channel symmetric 7-bit convolution weights ([-63, 63], exact on every CPU, see
 * `weightLimit`), int32 biases, a per-channel power-of-two requantization chosen so that the
 * largest accumulator seen on the calibration images still fits uint8 after rounding, then the
 * per-channel activation scales folded into the dense weights, quantized per tensor (one scale,
 * so the int32 logits of all classes are comparable).
 *
 * @example
 * ```ts
 * const quantized = quantizeCnn(model, trainSet.images)
 * const logits = quantizedCnnForward(quantized, image) // Int32Array(10)
 * ```
 */
export function quantizeCnn(model: Cnn, calibration: readonly Uint8Array[]): QuantizedCnn {
  const { channels, kernelSize, convOutputs, convSize, featureSize, outputSize } = model
  const { pooledSize, imageSize } = model
  if (calibration.length === 0)
    throw new BaseError('INVALID_ARGUMENT', 'quantizeCnn needs at least one calibration image.', {
      metaMessages: ['Pass the training images (or a representative subset).'],
    })
  for (const image of calibration) assertImage(image, imageSize * imageSize)
  const taps = kernelSize * kernelSize

  // convolution: per-channel symmetric scale; the accumulator counts steps of scale / 255
  const convScales = new Float64Array(channels)
  for (let c = 0; c < channels; c++) {
    let max = 0
    for (let t = 0; t < taps; t++) max = Math.max(max, Math.abs(model.convWeight[c * taps + t]!))
    convScales[c] = max > 0 ? max / weightLimit : 1
  }
  const convWeight = Int8Array.from(model.convWeight, (w, index) =>
    roundHalfAway(w / convScales[Math.floor(index / taps)]!),
  )
  const convBias = Int32Array.from(model.convBias, (b, c) =>
    roundHalfAway((b * 255) / convScales[c]!),
  )

  // requantization: smallest shift that keeps the calibration maximum within uint8
  const geometry = { ...model, convWeight, convBias }
  const accumulators = new Int32Array(convOutputs)
  const maxAcc = new Float64Array(channels)
  const plane = convSize * convSize
  for (const image of calibration) {
    convAccumulators(geometry, image, accumulators)
    for (let index = 0; index < convOutputs; index++) {
      const c = Math.floor(index / plane)
      if (accumulators[index]! > maxAcc[c]!) maxAcc[c] = accumulators[index]!
    }
  }
  const shift = new Int32Array(channels)
  for (let c = 0; c < channels; c++) {
    let s = 0
    const max = maxAcc[c]!
    while (max + (s === 0 ? 0 : 2 ** (s - 1)) >= 256 * 2 ** s) s++
    shift[c] = s
  }
  const divisor = Int32Array.from(shift, (s) => 2 ** s)
  const round = Int32Array.from(shift, (s) => (s === 0 ? 0 : 2 ** (s - 1)))
  const activationScales = Float64Array.from(shift, (s, c) => (convScales[c]! * 2 ** s) / 255)

  // dense: fold the per-channel activation scales into the weights, then one scale per tensor
  const features = pooledSize * pooledSize
  const folded = new Float64Array(featureSize * outputSize)
  let maxFolded = 0
  for (let f = 0; f < featureSize; f++) {
    const scale = activationScales[Math.floor(f / features)]!
    for (let k = 0; k < outputSize; k++) {
      const value = scale * model.fcWeight[f * outputSize + k]!
      folded[f * outputSize + k] = value
      maxFolded = Math.max(maxFolded, Math.abs(value))
    }
  }
  const outputScale = maxFolded > 0 ? maxFolded / weightLimit : 1
  const fcWeight = Int8Array.from(folded, (value) => roundHalfAway(value / outputScale))
  const fcBias = Int32Array.from(model.fcBias, (b) => roundHalfAway(b / outputScale))

  const convBounds = Array.from({ length: channels }, (_, c) => {
    let bound = Math.abs(convBias[c]!) + round[c]!
    for (let t = 0; t < taps; t++) bound += 255 * Math.abs(convWeight[c * taps + t]!)
    return bound
  })
  const fcBounds = Array.from({ length: outputSize }, (_, k) => {
    let bound = Math.abs(fcBias[k]!)
    for (let f = 0; f < featureSize; f++) bound += 255 * Math.abs(fcWeight[f * outputSize + k]!)
    return bound
  })
  assertNoOverflow(convBounds, 'convolution channel')
  assertNoOverflow(fcBounds, 'dense')

  const { convWeight: _w, convBias: _b, fcWeight: _fw, fcBias: _fb, ...shape } = model
  return {
    ...shape,
    convWeight,
    convBias,
    shift,
    round,
    divisor,
    fcWeight,
    fcBias,
    convScales,
    activationScales,
    outputScale,
  }
}

/**
 * Every intermediate tensor of the integer forward pass of one image: convolution accumulators,
 * uint8 activations, pooled features and logits (what a circuit's witness holds).
 *
 * @example
 * ```ts
 * const { activations, pooled, logits } = quantizedCnnTrace(quantized, image)
 * ```
 */
export function quantizedCnnTrace(model: QuantizedCnn, image: Uint8Array): QuantizedCnnTrace {
  const { channels, convSize, poolSize, pooledSize, featureSize, outputSize } = model
  assertImage(image, model.imageSize * model.imageSize)
  const accumulators = new Int32Array(model.convOutputs)
  convAccumulators(model, image, accumulators)
  const plane = convSize * convSize
  const activations = new Uint8Array(model.convOutputs)
  for (let index = 0; index < accumulators.length; index++) {
    const c = Math.floor(index / plane)
    // integers below 2^31 divided by a power of two: the quotient is exact
    const value = Math.trunc((accumulators[index]! + model.round[c]!) / model.divisor[c]!)
    activations[index] = Math.min(255, Math.max(0, value))
  }
  const pooled = new Uint8Array(featureSize)
  for (let c = 0; c < channels; c++)
    for (let u = 0; u < pooledSize; u++)
      for (let v = 0; v < pooledSize; v++) {
        let max = 0
        for (let du = 0; du < poolSize; du++)
          for (let dv = 0; dv < poolSize; dv++)
            max = Math.max(
              max,
              activations[(c * convSize + u * poolSize + du) * convSize + v * poolSize + dv]!,
            )
        pooled[(c * pooledSize + u) * pooledSize + v] = max
      }
  const logits = Int32Array.from(model.fcBias)
  for (let f = 0; f < featureSize; f++) {
    const p = pooled[f]!
    if (p === 0) continue
    const row = f * outputSize
    for (let k = 0; k < outputSize; k++) logits[k] = logits[k]! + p * model.fcWeight[row + k]!
  }
  return { accumulators, activations, pooled, logits }
}

/**
 * Integer reference forward pass: the int32 logits that the exported int8 ONNX model (and a
 * circuit compiled from it) must reproduce exactly.
 *
 * @example
 * ```ts
 * const logits = quantizedCnnForward(quantized, image) // Int32Array(10)
 * ```
 */
export function quantizedCnnForward(model: QuantizedCnn, image: Uint8Array): Int32Array {
  return quantizedCnnTrace(model, image).logits
}
