import { BaseError } from '@verity/protocol'
import type { Mlp } from './train.ts'

/**
 * Largest magnitude of a quantized weight. Weights are symmetric int8 restricted to 7 bits
 * ([-63, 63]): x86 CPUs without VNNI multiply uint8 × int8 with `vpmaddubsw`, which adds pairs of
 * products into a saturating int16 (2 · 255 · 127 overflows it, 2 · 255 · 63 = 32130 does not).
 * With 7-bit weights `MatMulInteger` is exact on every CPU, so the integer model is bit-exact
 * everywhere and equals plain integer arithmetic (what a zk circuit computes).
 *
 * @example
 * ```ts
 * quantized.w1.every((w) => Math.abs(w) <= weightLimit) // true
 * ```
 */
export const weightLimit = 63

/**
 * The integer MLP. Every operation is exact integer arithmetic:
 *
 * ```
 * acc1[j]   = b1[j] + Σ_i image[i] · w1[i, j]                   (uint8 × int8 → int32)
 * hidden[j] = clamp(trunc((acc1[j] + round1[j]) / divisor1[j]), 0, 255)   (ReLU + requantize)
 * logits[k] = b2[k] + Σ_j hidden[j] · w2[j, k]                  (uint8 × int8 → int32)
 * ```
 *
 * `divisor1[j]` is a power of two `2^shift1[j]` and `round1[j]` its half (0 when the shift is 0),
 * so the rescale is a rounding right shift. Real-valued meaning: `image / 255` is the float
 * model's input and `logits · outputScale` approximates the float model's logits.
 */
export type QuantizedMlp = {
  readonly inputSize: number
  readonly hiddenSize: number
  readonly outputSize: number
  /** int8 weights (7-bit values), input-major `[inputSize, hiddenSize]`. */
  readonly w1: Int8Array
  readonly b1: Int32Array
  readonly shift1: Int32Array
  readonly round1: Int32Array
  readonly divisor1: Int32Array
  /** int8 weights (7-bit values), `[hiddenSize, outputSize]`. */
  readonly w2: Int8Array
  readonly b2: Int32Array
  /** Per-hidden-unit scale of w1 (float weight ≈ w1 · scale). */
  readonly w1Scales: Float64Array
  /** Per-hidden-unit real value of one step of the uint8 hidden activation. */
  readonly hiddenScales: Float64Array
  /** Real value of one unit of the int32 logits. */
  readonly outputScale: number
}

function roundHalfAway(value: number): number {
  return value < 0 ? -Math.floor(-value + 0.5) : Math.floor(value + 0.5)
}

function layer1Accumulators(
  model: Pick<QuantizedMlp, 'hiddenSize' | 'w1' | 'b1'>,
  image: Uint8Array,
  out: Float64Array,
): void {
  const { hiddenSize, w1, b1 } = model
  for (let j = 0; j < hiddenSize; j++) out[j] = b1[j]!
  for (let i = 0; i < image.length; i++) {
    const x = image[i]!
    if (x === 0) continue
    const row = i * hiddenSize
    for (let j = 0; j < hiddenSize; j++) out[j] = out[j]! + x * w1[row + j]!
  }
}

function assertImage(image: Uint8Array, inputSize: number): void {
  if (!(image instanceof Uint8Array) || image.length !== inputSize)
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `Expected a Uint8Array of ${inputSize} pixels; got ${image?.constructor?.name} of ${image?.length}.`,
    )
}

/** Checks that no input (uint8) can overflow the int32 accumulators of a layer. */
function assertNoOverflow(
  weights: Int8Array,
  bias: Int32Array,
  columns: number,
  rounding: Int32Array,
): void {
  for (let j = 0; j < columns; j++) {
    let bound = Math.abs(bias[j]!) + rounding[j]!
    for (let i = j; i < weights.length; i += columns) bound += 255 * Math.abs(weights[i]!)
    if (bound >= 2 ** 31)
      throw new BaseError(
        'INTERNAL',
        `Quantized layer column ${j} can reach ${bound}, which overflows int32.`,
        { metaMessages: ['Retrain with more weight decay or a smaller bias.'] },
      )
  }
}

/**
 * Post-training quantization of a float MLP into a {@link QuantizedMlp}: per-hidden-unit symmetric
 * 7-bit weights for layer 1, int32 biases, a per-unit power-of-two requantization chosen so that
 * the largest activation seen on the calibration images still fits uint8, and per-tensor 7-bit
 * weights for layer 2 (one scale, so the int32 logits of all classes are comparable).
 *
 * @example
 * ```ts
 * const quantized = quantizeMlp(model, trainSet.images)
 * const logits = quantizedForward(quantized, image) // Int32Array(10)
 * ```
 */
export function quantizeMlp(model: Mlp, calibration: readonly Uint8Array[]): QuantizedMlp {
  const { inputSize, hiddenSize, outputSize } = model
  if (calibration.length === 0)
    throw new BaseError('INVALID_ARGUMENT', 'quantizeMlp needs at least one calibration image.', {
      metaMessages: ['Pass the training images (or a representative subset).'],
    })
  for (const image of calibration) assertImage(image, inputSize)

  // layer 1: per-unit symmetric scale; the integer accumulator counts steps of scale / 255
  const w1Scales = new Float64Array(hiddenSize)
  for (let j = 0; j < hiddenSize; j++) {
    let max = 0
    for (let i = 0; i < inputSize; i++) max = Math.max(max, Math.abs(model.w1[i * hiddenSize + j]!))
    w1Scales[j] = max > 0 ? max / weightLimit : 1
  }
  const w1 = new Int8Array(inputSize * hiddenSize)
  for (let i = 0; i < inputSize; i++)
    for (let j = 0; j < hiddenSize; j++)
      w1[i * hiddenSize + j] = roundHalfAway(model.w1[i * hiddenSize + j]! / w1Scales[j]!)
  const b1 = Int32Array.from(model.b1, (b, j) => roundHalfAway((b * 255) / w1Scales[j]!))

  // requantization: smallest shift that keeps the calibration maximum within uint8
  const maxAcc = new Float64Array(hiddenSize)
  const acc = new Float64Array(hiddenSize)
  for (const image of calibration) {
    layer1Accumulators({ hiddenSize, w1, b1 }, image, acc)
    for (let j = 0; j < hiddenSize; j++) maxAcc[j] = Math.max(maxAcc[j]!, acc[j]!)
  }
  const shift1 = new Int32Array(hiddenSize)
  for (let j = 0; j < hiddenSize; j++) {
    let shift = 0
    const max = maxAcc[j]!
    while (max + (shift === 0 ? 0 : 2 ** (shift - 1)) >= 256 * 2 ** shift) shift++
    shift1[j] = shift
  }
  const divisor1 = Int32Array.from(shift1, (shift) => 2 ** shift)
  const round1 = Int32Array.from(shift1, (shift) => (shift === 0 ? 0 : 2 ** (shift - 1)))
  const hiddenScales = Float64Array.from(shift1, (shift, j) => (w1Scales[j]! * 2 ** shift) / 255)

  // layer 2: fold the hidden scales into the weights, then one symmetric scale for the tensor
  const folded = new Float64Array(hiddenSize * outputSize)
  let max2 = 0
  for (let j = 0; j < hiddenSize; j++)
    for (let k = 0; k < outputSize; k++) {
      const value = hiddenScales[j]! * model.w2[j * outputSize + k]!
      folded[j * outputSize + k] = value
      max2 = Math.max(max2, Math.abs(value))
    }
  const outputScale = max2 > 0 ? max2 / weightLimit : 1
  const w2 = Int8Array.from(folded, (value) => roundHalfAway(value / outputScale))
  const b2 = Int32Array.from(model.b2, (b) => roundHalfAway(b / outputScale))

  assertNoOverflow(w1, b1, hiddenSize, round1)
  assertNoOverflow(w2, b2, outputSize, new Int32Array(outputSize))

  return {
    inputSize,
    hiddenSize,
    outputSize,
    w1,
    b1,
    shift1,
    round1,
    divisor1,
    w2,
    b2,
    w1Scales,
    hiddenScales,
    outputScale,
  }
}

/**
 * The uint8 hidden activations of the integer MLP for one image (the output of the requantization).
 *
 * @example
 * ```ts
 * quantizedHidden(quantized, image) // Uint8Array(32)
 * ```
 */
export function quantizedHidden(model: QuantizedMlp, image: Uint8Array): Uint8Array {
  assertImage(image, model.inputSize)
  const acc = new Float64Array(model.hiddenSize)
  layer1Accumulators(model, image, acc)
  const hidden = new Uint8Array(model.hiddenSize)
  for (let j = 0; j < model.hiddenSize; j++) {
    // every value is an integer below 2^31 and the divisor a power of two: the quotient is exact
    const value = Math.trunc((acc[j]! + model.round1[j]!) / model.divisor1[j]!)
    hidden[j] = Math.min(255, Math.max(0, value))
  }
  return hidden
}

/**
 * Integer reference forward pass: the int32 logits that the exported int8 ONNX model must
 * reproduce exactly.
 *
 * @example
 * ```ts
 * const logits = quantizedForward(quantized, image) // Int32Array(10)
 * ```
 */
export function quantizedForward(model: QuantizedMlp, image: Uint8Array): Int32Array {
  const hidden = quantizedHidden(model, image)
  const { hiddenSize, outputSize, w2, b2 } = model
  const logits = Int32Array.from(b2)
  for (let j = 0; j < hiddenSize; j++) {
    const h = hidden[j]!
    if (h === 0) continue
    const row = j * outputSize
    for (let k = 0; k < outputSize; k++) logits[k] = logits[k]! + h * w2[row + k]!
  }
  return logits
}
