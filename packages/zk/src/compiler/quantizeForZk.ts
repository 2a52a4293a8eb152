import { BaseError } from '@verity/protocol'
import { evaluateZkOp } from './evaluateZkOp.ts'
import { shapeSize, type ZkGraph, type ZkOp, type ZkRequantizeOp, zkOpInputs } from './zkGraph.ts'

/** Options of {@link quantizeForZk}. */
export type QuantizeForZkOptions = {
  /**
   * Real value of one step of the uint8 input when calibration data are bytes:
   * `real = (byte − inputZeroPoint) · inputScale`. Default 1/255 (pixels / 255, as the demo float
   * model expects).
   */
  inputScale?: number
  /** Byte that encodes real 0 (bytes calibration only). Default 0. */
  inputZeroPoint?: number
  /** Bits of the symmetric integer weights (2..16). Default 8: values in [−127, 127]. */
  weightBits?: number
  /** Calibration samples used (the first ones). Default 512. */
  maxCalibrationSamples?: number
}

/**
 * Defaults of {@link QuantizeForZkOptions}.
 *
 * @example
 * ```ts
 * quantizeForZk(graph, images, { ...defaultQuantizeForZkOptions, weightBits: 7 })
 * ```
 */
export const defaultQuantizeForZkOptions = {
  inputScale: 1 / 255,
  inputZeroPoint: 0,
  weightBits: 8,
  maxCalibrationSamples: 512,
} as const satisfies Required<QuantizeForZkOptions>

/** A float value of the source graph as an integer value: `real ≈ (ir − zero) · scale[i]`. */
type Quantized = { ir: string; scale: Float64Array; zero: number }

function roundHalfAway(value: number): number {
  return value < 0 ? -Math.floor(-value + 0.5) : Math.floor(value + 0.5)
}

function unsupported(op: ZkOp, reason: string): BaseError {
  return new BaseError(
    'ZK_GRAPH_UNSUPPORTED',
    `Cannot quantize "${op.name}" (${op.op}): ${reason}`,
    {
      metaMessages: [
        'quantizeForZk handles chains of Gemm/MatMul/Conv with ReLU/Clip, pooling, reshapes and constant additions.',
      ],
    },
  )
}

function channelPlane(shape: readonly number[]): number {
  return shape.length === 4 ? shape[2]! * shape[3]! : 1
}

/** Per-channel scale of an NCHW value (throws when the scale varies inside a channel). */
function channelScales(scale: Float64Array, shape: readonly number[], op: ZkOp): Float64Array {
  const channels = shape[1] ?? 1
  const plane = channelPlane(shape)
  const out = new Float64Array(channels)
  for (let c = 0; c < channels; c++) {
    out[c] = scale[c * plane]!
    for (let i = c * plane; i < (c + 1) * plane; i++)
      if (scale[i] !== out[c]) throw unsupported(op, 'its input scale varies inside a channel.')
  }
  return out
}

/** Smallest power-of-two exponent k such that round(max / 2^k) fits `limit` (k may be negative). */
function shiftFor(max: number, limit: number): number {
  if (!(max > 0)) return 0
  let k = -24
  while (k < 60) {
    const scaled = k > 0 ? Math.floor((max + 2 ** (k - 1)) / 2 ** k) : max * 2 ** -k
    if (scaled <= limit) return k
    k++
  }
  return k
}

function checkCalibration(
  graph: ZkGraph,
  calibration: readonly (Uint8Array | Float32Array)[],
): 'bytes' | 'floats' {
  if (!Array.isArray(calibration) || calibration.length === 0)
    throw new BaseError(
      'ZK_CALIBRATION_INVALID',
      'quantizeForZk needs at least one calibration input.',
      {
        metaMessages: [
          'Pass representative inputs (e.g. a few hundred training images) as Uint8Array or Float32Array.',
        ],
      },
    )
  const size = shapeSize(graph.input.shape)
  const bytes = calibration[0] instanceof Uint8Array
  for (const [index, sample] of calibration.entries()) {
    if (!(bytes ? sample instanceof Uint8Array : sample instanceof Float32Array))
      throw new BaseError(
        'ZK_CALIBRATION_INVALID',
        `Calibration sample ${index} is not a ${bytes ? 'Uint8Array' : 'Float32Array'} like the first one.`,
      )
    if (sample.length !== size)
      throw new BaseError(
        'ZK_CALIBRATION_INVALID',
        `Calibration sample ${index} has ${sample.length} elements; the model input [${graph.input.shape.join(', ')}] needs ${size}.`,
      )
    if (!bytes && !sample.every(Number.isFinite))
      throw new BaseError(
        'ZK_CALIBRATION_INVALID',
        `Calibration sample ${index} contains NaN or infinity.`,
      )
  }
  return bytes ? 'bytes' : 'floats'
}

/**
 * Post-training quantization of a float graph into an integer graph a circuit can compute.
 *
 * Scheme (also in `compiler/README.md`):
 * - Input: uint8 bytes, `real = (byte − zp) · s_in` (bytes calibration: `inputScale`, default
 *   1/255; float calibration: asymmetric min/max of the calibration data).
 * - Gemm/MatMul/Conv: the per-element scale of the input is folded into the float weights, which
 *   then become symmetric integers of `weightBits` bits (default int8, [−127, 127]): per output
 *   channel when the layer is requantized, per tensor for the last layer (so that all outputs
 *   share one scale and argmax is meaningful). Biases are integers at the accumulator scale.
 * - Requantization after every layer that feeds another layer: a power-of-two rescale per output
 *   channel, `y = clamp(floor((acc + 2^(k−1)) / 2^k), lo, hi)` — a rounding right shift, so the
 *   circuit needs no multiplier — with `k` the smallest shift that keeps the largest calibration
 *   accumulator in range. A following ReLU/Clip(≥0) fuses into it (uint8 [0, 255]); otherwise the
 *   activation is int8 [−127, 127]. Activation scales are per channel; the next layer folds them.
 * - MaxPool, ReLU, reshapes are exact on the integers; AveragePool is a sum pool whose 1/k joins
 *   the scale; constant additions are rounded to the value's scale.
 *
 * Throws `ZK_CALIBRATION_INVALID` for empty or mis-shaped calibration data and
 * `ZK_GRAPH_UNSUPPORTED` for graphs outside the scheme.
 *
 * @example
 * ```ts
 * const integerGraph = quantizeForZk(loadZkGraph(floatBytes), trainImages, { inputScale: 1 / 255 })
 * ```
 */
export function quantizeForZk(
  graph: ZkGraph,
  calibration: readonly Uint8Array[] | readonly Float32Array[],
  options: QuantizeForZkOptions = {},
): ZkGraph {
  if (graph.numeric !== 'float')
    throw new BaseError(
      'INVALID_ARGUMENT',
      'quantizeForZk takes a float graph; this graph is already integer.',
      {
        metaMessages: ['Compile integer graphs directly.'],
      },
    )
  const settings = { ...defaultQuantizeForZkOptions, ...options }
  const { weightBits, maxCalibrationSamples } = settings
  if (!Number.isInteger(weightBits) || weightBits < 2 || weightBits > 16)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `weightBits must be an integer in [2, 16]; got ${weightBits}.`,
    )
  const weightLimit = 2 ** (weightBits - 1) - 1
  const kind = checkCalibration(graph, calibration as readonly (Uint8Array | Float32Array)[])
  const samples = calibration.slice(0, Math.max(1, maxCalibrationSamples)) as (
    | Uint8Array
    | Float32Array
  )[]
  const inputSize = shapeSize(graph.input.shape)

  // input quantization
  let inputScale: number
  let inputZero: number
  let inputs: Float64Array[]
  if (kind === 'bytes') {
    inputScale = settings.inputScale
    inputZero = settings.inputZeroPoint
    if (!(inputScale > 0) || !Number.isInteger(inputZero) || inputZero < 0 || inputZero > 255)
      throw new BaseError(
        'INVALID_ARGUMENT',
        'inputScale must be positive and inputZeroPoint an integer in [0, 255].',
      )
    inputs = samples.map((sample) => Float64Array.from(sample))
  } else {
    let lo = 0
    let hi = 0
    for (const sample of samples)
      for (const value of sample) {
        lo = Math.min(lo, value)
        hi = Math.max(hi, value)
      }
    inputScale = hi > lo ? (hi - lo) / 255 : 1
    inputZero = Math.min(255, Math.max(0, Math.round(-lo / inputScale)))
    inputs = samples.map((sample) =>
      Float64Array.from(sample, (value) =>
        Math.min(255, Math.max(0, Math.round(value / inputScale) + inputZero)),
      ),
    )
  }

  const shapes = new Map(graph.shapes)
  const ops: ZkOp[] = []
  const values = inputs.map((input) => new Map<string, Float64Array>([[graph.input.name, input]]))
  const emit = (op: ZkOp, shape: number[]) => {
    shapes.set(op.output, shape)
    ops.push(op)
    for (const sampleValues of values)
      sampleValues.set(op.output, evaluateZkOp(op, sampleValues, shapes))
  }
  let fresh = 0
  const newName = (base: string) => {
    let name = `${base}#q${fresh++}`
    while (shapes.has(name)) name = `${base}#q${fresh++}`
    return name
  }
  const quantized = new Map<string, Quantized>([
    [
      graph.input.name,
      {
        ir: graph.input.name,
        scale: new Float64Array(inputSize).fill(inputScale),
        zero: inputZero,
      },
    ],
  ])
  const get = (name: string, op: ZkOp): Quantized => {
    const value = quantized.get(name)
    if (!value)
      throw new BaseError('INTERNAL', `"${op.name}" reads "${name}" before it is quantized.`)
    return value
  }

  // which values flow into another linear layer (they need requantization to 8 bits)
  const consumers = new Map<string, ZkOp[]>()
  for (const op of graph.ops)
    for (const input of zkOpInputs(op)) consumers.set(input, [...(consumers.get(input) ?? []), op])
  const feedsLayer = new Set<string>()
  for (const op of [...graph.ops].reverse()) {
    const outputs = consumers.get(op.output) ?? []
    if (
      outputs.some(
        (next) => next.op === 'matmul' || next.op === 'conv' || feedsLayer.has(next.output),
      )
    )
      feedsLayer.add(op.output)
  }
  const fused = new Set<ZkOp>()

  for (const op of graph.ops) {
    if (fused.has(op)) continue
    const shape = graph.shapes.get(op.output) ?? []
    const size = shapeSize(shape)
    switch (op.op) {
      case 'matmul':
      case 'conv': {
        const x = get(op.input, op)
        const inputShape = graph.shapes.get(op.input) ?? []
        const isConv = op.op === 'conv'
        const outChannels = isConv ? op.weightShape[0] : op.outFeatures
        const perWeight = isConv ? op.weightShape[1] * op.weightShape[2] * op.weightShape[3] : 0
        // fold the input scales into the float weights
        const folded = new Float64Array(op.weights.length)
        const channelOf = (w: number) => (isConv ? Math.floor(w / perWeight) : w % outChannels)
        if (isConv) {
          const scales = channelScales(x.scale, inputShape, op)
          const [, cg, kh, kw] = op.weightShape
          const perGroup = outChannels / op.group
          for (let w = 0; w < folded.length; w++) {
            const m = Math.floor(w / perWeight)
            const c = Math.floor(w / (kh * kw)) % cg
            folded[w] = op.weights[w]! * scales[Math.floor(m / perGroup) * cg + c]!
          }
        } else
          for (let w = 0; w < folded.length; w++)
            folded[w] = op.weights[w]! * x.scale[Math.floor(w / outChannels)]!
        const requantized = feedsLayer.has(op.output)
        const weightScale = new Float64Array(outChannels)
        for (let w = 0; w < folded.length; w++) {
          const channel = requantized ? channelOf(w) : 0
          weightScale[channel] = Math.max(weightScale[channel]!, Math.abs(folded[w]!))
        }
        if (!requantized) weightScale.fill(weightScale[0]!)
        for (let c = 0; c < outChannels; c++)
          weightScale[c] = weightScale[c]! > 0 ? weightScale[c]! / weightLimit : 1
        const weights = folded.map((w, i) => roundHalfAway(w / weightScale[channelOf(i)]!))
        const bias = op.bias.map((b, c) => roundHalfAway(b / weightScale[c]!))
        const accName = newName(op.output)
        const linear: ZkOp = {
          ...op,
          input: x.ir,
          output: accName,
          weights,
          bias,
          inputZeroPoint: x.zero,
        }
        emit(linear, shape)
        const plane = channelPlane(shape)
        const accScale = new Float64Array(size)
        for (let i = 0; i < size; i++)
          accScale[i] = weightScale[isConv ? Math.floor(i / plane) : i % outChannels]!
        if (!requantized) {
          quantized.set(op.output, { ir: accName, scale: accScale, zero: 0 })
          break
        }
        // requantize: fuse a following ReLU / Clip with a non-negative minimum into it
        const next = consumers.get(op.output) ?? []
        const clamp =
          next.length === 1 && next[0]!.op === 'clamp' && next[0]!.min >= 0 ? next[0]! : undefined
        const unsigned = clamp !== undefined
        const limit = unsigned ? 255 : 127
        const realMax = clamp?.op === 'clamp' ? clamp.max : Number.POSITIVE_INFINITY
        const realMin = clamp?.op === 'clamp' ? clamp.min : Number.NEGATIVE_INFINITY
        const channelMax = new Float64Array(outChannels)
        for (const sampleValues of values) {
          const acc = sampleValues.get(accName)!
          for (let i = 0; i < size; i++) {
            const channel = isConv ? Math.floor(i / plane) : i % outChannels
            let value = unsigned ? acc[i]! : Math.abs(acc[i]!)
            if (unsigned) value = Math.min(value, realMax / accScale[i]!)
            channelMax[channel] = Math.max(channelMax[channel]!, value)
          }
        }
        const shifts = Float64Array.from(channelMax, (max) => shiftFor(max, limit))
        const requantize: ZkRequantizeOp = {
          op: 'requantize',
          name: op.name,
          input: accName,
          output: newName(op.output),
          multiplier: new Float64Array(size),
          offset: new Float64Array(size),
          shift: new Float64Array(size),
          min: new Float64Array(size),
          max: new Float64Array(size),
          rounding: 'floor',
        }
        const outScale = new Float64Array(size)
        for (let i = 0; i < size; i++) {
          const k = shifts[isConv ? Math.floor(i / plane) : i % outChannels]!
          requantize.multiplier[i] = k < 0 ? 2 ** -k : 1
          requantize.shift[i] = Math.max(k, 0)
          requantize.offset[i] = k > 0 ? 2 ** (k - 1) : 0
          outScale[i] = accScale[i]! * 2 ** k
          requantize.min[i] = unsigned ? Math.max(0, Math.ceil(realMin / outScale[i]!)) : -limit
          requantize.max[i] = unsigned ? Math.min(limit, Math.floor(realMax / outScale[i]!)) : limit
        }
        emit(requantize, shape)
        const result = { ir: requantize.output, scale: outScale, zero: 0 }
        if (clamp) {
          fused.add(clamp)
          quantized.set(clamp.output, result)
        } else quantized.set(op.output, result)
        break
      }
      case 'clamp': {
        const x = get(op.input, op)
        const requantize: ZkRequantizeOp = {
          op: 'requantize',
          name: op.name,
          input: x.ir,
          output: newName(op.output),
          multiplier: new Float64Array(size).fill(1),
          offset: new Float64Array(size),
          shift: new Float64Array(size),
          min: x.scale.map((s) => x.zero + Math.ceil(op.min / s)),
          max: x.scale.map((s) => x.zero + Math.floor(op.max / s)),
          rounding: 'floor',
        }
        emit(requantize, shape)
        quantized.set(op.output, { ...x, ir: requantize.output })
        break
      }
      case 'maxPool':
      case 'sumPool': {
        const x = get(op.input, op)
        const inputShape = graph.shapes.get(op.input) ?? []
        const scales = channelScales(x.scale, inputShape, op)
        const padded = op.pads.some((pad) => pad > 0)
        if (op.op === 'sumPool' && x.zero !== 0 && padded)
          throw unsupported(op, 'average pooling with padding over an input with a zero point.')
        const output = newName(op.output)
        emit({ ...op, input: x.ir, output }, shape)
        const plane = channelPlane(shape)
        const scale = Float64Array.from({ length: size }, (_, i) => scales[Math.floor(i / plane)]!)
        quantized.set(op.output, {
          ir: output,
          scale,
          zero: op.op === 'sumPool' ? x.zero * op.kernel[0] * op.kernel[1] : x.zero,
        })
        break
      }
      case 'reshape': {
        const x = get(op.input, op)
        const output = newName(op.output)
        emit({ ...op, input: x.ir, output }, shape)
        quantized.set(op.output, { ...x, ir: output })
        break
      }
      case 'mulConstant': {
        const x = get(op.input, op)
        const negative = op.factor.some((f) => f < 0)
        if (negative && x.zero !== 0)
          throw unsupported(op, 'a negative factor on a value with a zero point.')
        let ir = x.ir
        if (negative || op.factor.some((f) => f === 0)) {
          ir = newName(op.output)
          emit(
            {
              ...op,
              input: x.ir,
              output: ir,
              factor: op.factor.map((f) => (f < 0 ? -1 : f === 0 ? 0 : 1)),
            },
            shape,
          )
        }
        quantized.set(op.output, {
          ir,
          scale: x.scale.map((s, i) => s * (Math.abs(op.factor[i]!) || 1)),
          zero: x.zero,
        })
        break
      }
      case 'addConstant': {
        const x = get(op.input, op)
        const output = newName(op.output)
        emit(
          {
            ...op,
            input: x.ir,
            output,
            constant: op.constant.map((c, i) => Math.round(c / x.scale[i]!)),
          },
          shape,
        )
        quantized.set(op.output, { ...x, ir: output })
        break
      }
      case 'add': {
        const a = get(op.inputs[0], op)
        const b = get(op.inputs[1], op)
        if (a.zero !== 0 || b.zero !== 0 || a.scale.some((s, i) => s !== b.scale[i]))
          throw unsupported(
            op,
            'the two operands have different scales (residual additions need matching requantization).',
          )
        const output = newName(op.output)
        emit({ ...op, inputs: [a.ir, b.ir], output }, shape)
        quantized.set(op.output, { ir: output, scale: a.scale, zero: 0 })
        break
      }
      default:
        throw unsupported(op, 'this operation does not occur in float graphs.')
    }
  }

  let result = get(
    graph.output.name,
    graph.ops.at(-1) ?? ({ name: 'output', op: 'reshape' } as ZkOp),
  )
  if (result.zero !== 0) {
    const output = newName(graph.output.name)
    const shape = graph.output.shape
    emit(
      {
        op: 'addConstant',
        name: 'output zero point',
        input: result.ir,
        output,
        constant: new Float64Array(shapeSize(shape)).fill(-result.zero),
      },
      shape,
    )
    result = { ...result, ir: output, zero: 0 }
  }
  const uniform = result.scale.every((s) => s === result.scale[0])
  return {
    numeric: 'integer',
    input: {
      name: graph.input.name,
      shape: graph.input.shape,
      dtype: 'uint8',
      scale: inputScale,
      zeroPoint: inputZero,
    },
    output: {
      name: result.ir,
      onnxName: graph.output.onnxName,
      shape: graph.output.shape,
      ...(uniform && result.scale[0] !== undefined ? { scale: result.scale[0] } : {}),
    },
    shapes,
    ops,
    sourceOperators: graph.sourceOperators,
  }
}
