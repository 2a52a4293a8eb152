import { BaseError } from '@verity/protocol'
import { convOutputSize, windowIndices, windowOutputShape } from './convGeometry.ts'
import { roundShift } from './roundShift.ts'
import { shapeSize, type ZkCastTarget, type ZkGraph, type ZkOp } from './zkGraph.ts'

/** Per-element bounds of one value: every reachable value `v[i]` has `min[i] <= v[i] <= max[i]`. */
export type ZkValueRange = { min: Float64Array; max: Float64Array }

/**
 * Largest magnitude any value or partial sum of an integer graph may reach: below it float64
 * arithmetic is exact, so the TypeScript evaluator equals the circuit.
 *
 * @example
 * ```ts
 * zkMaxMagnitude // 2^53 − 1
 * ```
 */
export const zkMaxMagnitude = Number.MAX_SAFE_INTEGER

const castRanges: Readonly<Record<ZkCastTarget, readonly [number, number]>> = {
  uint8: [0, 255],
  int8: [-128, 127],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  int64: [-zkMaxMagnitude, zkMaxMagnitude],
}

function tooLarge(op: ZkOp, bound: number): BaseError {
  return new BaseError(
    'ZK_VALUE_RANGE_TOO_LARGE',
    `Values of "${op.name}" (${op.op}) may reach magnitude ${bound.toExponential(3)}, above 2^53.`,
    {
      metaMessages: [
        'The compiler proves every value exact below 2^53 (worst case over all inputs).',
        'Quantize with fewer weight bits or add a requantization before this operation.',
      ],
    },
  )
}

function checkMagnitude(op: ZkOp, bound: number): void {
  if (!(bound <= zkMaxMagnitude)) throw tooLarge(op, bound)
}

function rangeOf(ranges: ReadonlyMap<string, ZkValueRange>, name: string): ZkValueRange {
  const range = ranges.get(name)
  if (!range) throw new BaseError('INTERNAL', `No range for value "${name}".`)
  return range
}

function opRange(
  op: ZkOp,
  ranges: ReadonlyMap<string, ZkValueRange>,
  shapes: ReadonlyMap<string, readonly number[]>,
): ZkValueRange {
  const size = shapeSize(shapes.get(op.output) ?? [])
  const min = new Float64Array(size)
  const max = new Float64Array(size)
  switch (op.op) {
    case 'matmul': {
      const x = rangeOf(ranges, op.input)
      const { inFeatures: k, outFeatures: n, weights, bias, inputZeroPoint: zp } = op
      const magnitude = new Float64Array(n)
      for (let j = 0; j < n; j++) {
        min[j] = bias[j]!
        max[j] = bias[j]!
        magnitude[j] = Math.abs(bias[j]!)
      }
      for (let i = 0; i < k; i++) {
        const lo = x.min[i]! - zp
        const hi = x.max[i]! - zp
        const big = Math.max(Math.abs(lo), Math.abs(hi))
        for (let j = 0; j < n; j++) {
          const w = weights[i * n + j]!
          if (w === 0) continue
          min[j] = min[j]! + Math.min(w * lo, w * hi)
          max[j] = max[j]! + Math.max(w * lo, w * hi)
          magnitude[j] = magnitude[j]! + Math.abs(w) * big
        }
      }
      checkMagnitude(op, Math.max(...magnitude))
      return { min, max }
    }
    case 'conv': {
      const x = rangeOf(ranges, op.input)
      const [, , height, width] = shapes.get(op.input) as [number, number, number, number]
      const [m, cg, kh, kw] = op.weightShape
      const { strides, pads, dilations, group, weights, bias, inputZeroPoint: zp } = op
      const oh = convOutputSize(height, kh, strides[0], pads[0], pads[2], dilations[0])
      const ow = convOutputSize(width, kw, strides[1], pads[1], pads[3], dilations[1])
      const perGroup = m / group
      let largest = 0
      for (let mi = 0; mi < m; mi++) {
        const g = Math.floor(mi / perGroup)
        for (let r = 0; r < oh; r++)
          for (let c = 0; c < ow; c++) {
            let lo = bias[mi]!
            let hi = bias[mi]!
            let magnitude = Math.abs(bias[mi]!)
            for (let ci = 0; ci < cg; ci++) {
              const channel = g * cg + ci
              for (let a = 0; a < kh; a++) {
                const ih = r * strides[0] - pads[0] + a * dilations[0]
                if (ih < 0 || ih >= height) continue
                for (let b = 0; b < kw; b++) {
                  const iw = c * strides[1] - pads[1] + b * dilations[1]
                  if (iw < 0 || iw >= width) continue
                  const w = weights[((mi * cg + ci) * kh + a) * kw + b]!
                  if (w === 0) continue
                  const index = (channel * height + ih) * width + iw
                  const xl = x.min[index]! - zp
                  const xh = x.max[index]! - zp
                  lo += Math.min(w * xl, w * xh)
                  hi += Math.max(w * xl, w * xh)
                  magnitude += Math.abs(w) * Math.max(Math.abs(xl), Math.abs(xh))
                }
              }
            }
            const index = (mi * oh + r) * ow + c
            min[index] = lo
            max[index] = hi
            largest = Math.max(largest, magnitude)
          }
      }
      checkMagnitude(op, largest)
      return { min, max }
    }
    case 'add': {
      const a = rangeOf(ranges, op.inputs[0])
      const b = rangeOf(ranges, op.inputs[1])
      for (let i = 0; i < size; i++) {
        min[i] = a.min[i]! + b.min[i]!
        max[i] = a.max[i]! + b.max[i]!
      }
      break
    }
    case 'addConstant': {
      const x = rangeOf(ranges, op.input)
      for (let i = 0; i < size; i++) {
        min[i] = x.min[i]! + op.constant[i]!
        max[i] = x.max[i]! + op.constant[i]!
      }
      break
    }
    case 'mulConstant': {
      const x = rangeOf(ranges, op.input)
      for (let i = 0; i < size; i++) {
        const f = op.factor[i]!
        min[i] = Math.min(x.min[i]! * f, x.max[i]! * f)
        max[i] = Math.max(x.min[i]! * f, x.max[i]! * f)
      }
      break
    }
    case 'clamp': {
      const x = rangeOf(ranges, op.input)
      for (let i = 0; i < size; i++) {
        min[i] = Math.min(op.max, Math.max(op.min, x.min[i]!))
        max[i] = Math.min(op.max, Math.max(op.min, x.max[i]!))
      }
      break
    }
    case 'requantize': {
      const x = rangeOf(ranges, op.input)
      let largest = 0
      for (let i = 0; i < size; i++) {
        const m = op.multiplier[i]!
        const a = x.min[i]! * m + op.offset[i]!
        const b = x.max[i]! * m + op.offset[i]!
        largest = Math.max(
          largest,
          Math.abs(a),
          Math.abs(b),
          Math.abs(x.min[i]! * m),
          Math.abs(x.max[i]! * m),
        )
        // every rounding is monotone in t: the bounds map to the bounds
        const zero = op.zeroPoint?.[i]
        const lo = roundShift(Math.min(a, b), op.shift[i]!, op.rounding, zero)
        const hi = roundShift(Math.max(a, b), op.shift[i]!, op.rounding, zero)
        min[i] = Math.min(op.max[i]!, Math.max(op.min[i]!, lo))
        max[i] = Math.min(op.max[i]!, Math.max(op.min[i]!, hi))
      }
      checkMagnitude(op, largest)
      break
    }
    case 'maxPool':
    case 'sumPool': {
      const x = rangeOf(ranges, op.input)
      const [, channels, height, width] = shapes.get(op.input) as [number, number, number, number]
      const dilations = op.op === 'maxPool' ? op.dilations : ([1, 1] as [number, number])
      const geometry = {
        height,
        width,
        kernel: op.kernel,
        strides: op.strides,
        pads: op.pads,
        dilations,
      }
      const [oh, ow] = windowOutputShape(geometry)
      for (let r = 0; r < oh; r++)
        for (let c = 0; c < ow; c++) {
          const indices = windowIndices(geometry, r, c)
          for (let ch = 0; ch < channels; ch++) {
            const base = ch * height * width
            let lo = op.op === 'maxPool' ? Number.NEGATIVE_INFINITY : 0
            let hi = lo
            for (const index of indices) {
              if (op.op === 'maxPool') {
                lo = Math.max(lo, x.min[base + index]!)
                hi = Math.max(hi, x.max[base + index]!)
              } else {
                lo += x.min[base + index]!
                hi += x.max[base + index]!
              }
            }
            min[(ch * oh + r) * ow + c] = lo
            max[(ch * oh + r) * ow + c] = hi
          }
        }
      break
    }
    case 'reshape':
      return rangeOf(ranges, op.input)
    case 'cast': {
      const x = rangeOf(ranges, op.input)
      const [lo, hi] = castRanges[op.to]
      for (let i = 0; i < size; i++)
        if (x.min[i]! < lo || x.max[i]! > hi)
          throw new BaseError(
            'ZK_VALUE_RANGE_TOO_LARGE',
            `Cast "${op.name}" to ${op.to} may receive values in [${x.min[i]}, ${x.max[i]}], outside ${op.to} [${lo}, ${hi}].`,
            {
              metaMessages: [
                'A circuit cannot reproduce wrap-around casts; the compiler accepts a Cast only when it provably keeps every value.',
                'Clip the value to the target range before the Cast (as the demo int8 model does).',
              ],
            },
          )
      return x
    }
  }
  let largest = 0
  for (let i = 0; i < size; i++) largest = Math.max(largest, Math.abs(min[i]!), Math.abs(max[i]!))
  checkMagnitude(op, largest)
  return { min, max }
}

/**
 * Interval analysis of an integer graph: sound per-element bounds of every value over all inputs
 * of the input dtype (uint8 0..255, int8 −128..127). The circuit sizes its range checks from
 * these bounds, and the analysis proves that every value and partial sum stays below 2^53.
 * Throws `ZK_VALUE_RANGE_TOO_LARGE` when a value may exceed 2^53 or a Cast may not keep a value.
 *
 * @example
 * ```ts
 * const ranges = analyzeZkRanges(graph)
 * ranges.get(graph.output.name) // { min: Float64Array, max: Float64Array }
 * ```
 */
export function analyzeZkRanges(graph: ZkGraph): Map<string, ZkValueRange> {
  if (graph.numeric !== 'integer')
    throw new BaseError(
      'INVALID_ARGUMENT',
      'analyzeZkRanges needs an integer graph; got a float graph.',
      {
        metaMessages: ['Quantize the graph first with quantizeForZk.'],
      },
    )
  const size = shapeSize(graph.input.shape)
  const [lo, hi] = graph.input.dtype === 'int8' ? [-128, 127] : [0, 255]
  const ranges = new Map<string, ZkValueRange>([
    [
      graph.input.name,
      { min: new Float64Array(size).fill(lo), max: new Float64Array(size).fill(hi) },
    ],
  ])
  for (const op of graph.ops) ranges.set(op.output, opRange(op, ranges, graph.shapes))
  return ranges
}
