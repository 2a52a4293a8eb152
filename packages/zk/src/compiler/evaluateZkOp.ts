import { BaseError } from '@verity/protocol'
import { convOutputSize, windowIndices, windowOutputShape } from './convGeometry.ts'
import { roundShift } from './roundShift.ts'
import { shapeSize, type ZkOp } from './zkGraph.ts'

function get(values: ReadonlyMap<string, Float64Array>, name: string, op: ZkOp): Float64Array {
  const value = values.get(name)
  if (!value)
    throw new BaseError(
      'INTERNAL',
      `Operation "${op.name}" (${op.op}) reads "${name}", which has not been computed.`,
    )
  return value
}

function shapeOf(shapes: ReadonlyMap<string, readonly number[]>, name: string): readonly number[] {
  const shape = shapes.get(name)
  if (!shape) throw new BaseError('INTERNAL', `The graph has no shape for value "${name}".`)
  return shape
}

/**
 * Evaluates one operation of a graph on already computed values (float64 arithmetic: exact for
 * integer graphs, whose range analysis keeps every partial sum below 2^53). Returns the output.
 *
 * @example
 * ```ts
 * const y = evaluateZkOp(graph.ops[0]!, values, graph.shapes)
 * ```
 */
export function evaluateZkOp(
  op: ZkOp,
  values: ReadonlyMap<string, Float64Array>,
  shapes: ReadonlyMap<string, readonly number[]>,
): Float64Array {
  switch (op.op) {
    case 'matmul': {
      const x = get(values, op.input, op)
      const { inFeatures: k, outFeatures: n, weights, bias, inputZeroPoint } = op
      const y = Float64Array.from(bias)
      for (let i = 0; i < k; i++) {
        const xi = x[i]! - inputZeroPoint
        if (xi === 0) continue
        const row = i * n
        for (let j = 0; j < n; j++) y[j] = y[j]! + xi * weights[row + j]!
      }
      return y
    }
    case 'conv': {
      const x = get(values, op.input, op)
      const [, channels, height, width] = shapeOf(shapes, op.input) as [
        number,
        number,
        number,
        number,
      ]
      const [m, cg, kh, kw] = op.weightShape
      const { strides, pads, dilations, group, weights, bias, inputZeroPoint } = op
      const oh = convOutputSize(height, kh, strides[0], pads[0], pads[2], dilations[0])
      const ow = convOutputSize(width, kw, strides[1], pads[1], pads[3], dilations[1])
      const y = new Float64Array(m * oh * ow)
      const perGroup = m / group
      for (let mi = 0; mi < m; mi++) {
        const g = Math.floor(mi / perGroup)
        for (let r = 0; r < oh; r++)
          for (let c = 0; c < ow; c++) {
            let sum = bias[mi]!
            for (let ci = 0; ci < cg; ci++) {
              const channel = g * cg + ci
              if (channel >= channels) continue
              for (let a = 0; a < kh; a++) {
                const ih = r * strides[0] - pads[0] + a * dilations[0]
                if (ih < 0 || ih >= height) continue
                for (let b = 0; b < kw; b++) {
                  const iw = c * strides[1] - pads[1] + b * dilations[1]
                  if (iw < 0 || iw >= width) continue
                  const w = weights[((mi * cg + ci) * kh + a) * kw + b]!
                  sum += w * (x[(channel * height + ih) * width + iw]! - inputZeroPoint)
                }
              }
            }
            y[(mi * oh + r) * ow + c] = sum
          }
      }
      return y
    }
    case 'add': {
      const a = get(values, op.inputs[0], op)
      const b = get(values, op.inputs[1], op)
      return a.map((value, i) => value + b[i]!)
    }
    case 'addConstant': {
      const x = get(values, op.input, op)
      return x.map((value, i) => value + op.constant[i]!)
    }
    case 'mulConstant': {
      const x = get(values, op.input, op)
      return x.map((value, i) => value * op.factor[i]!)
    }
    case 'clamp': {
      const x = get(values, op.input, op)
      return x.map((value) => Math.min(op.max, Math.max(op.min, value)))
    }
    case 'requantize': {
      const x = get(values, op.input, op)
      return x.map((value, i) => {
        const t = value * op.multiplier[i]! + op.offset[i]!
        const scaled = roundShift(t, op.shift[i]!, op.rounding, op.zeroPoint?.[i])
        return Math.min(op.max[i]!, Math.max(op.min[i]!, scaled))
      })
    }
    case 'maxPool':
    case 'sumPool': {
      const x = get(values, op.input, op)
      const [, channels, height, width] = shapeOf(shapes, op.input) as [
        number,
        number,
        number,
        number,
      ]
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
      const y = new Float64Array(channels * oh * ow)
      for (let r = 0; r < oh; r++)
        for (let c = 0; c < ow; c++) {
          const indices = windowIndices(geometry, r, c)
          for (let ch = 0; ch < channels; ch++) {
            const base = ch * height * width
            let acc = op.op === 'maxPool' ? Number.NEGATIVE_INFINITY : 0
            for (const index of indices) {
              const value = x[base + index]!
              acc = op.op === 'maxPool' ? Math.max(acc, value) : acc + value
            }
            y[(ch * oh + r) * ow + c] = acc
          }
        }
      return y
    }
    case 'reshape':
    case 'cast': {
      const x = get(values, op.input, op)
      if (x.length !== shapeSize(shapeOf(shapes, op.output)))
        throw new BaseError('INTERNAL', `Reshape "${op.name}" changes the element count.`)
      return x
    }
  }
}
