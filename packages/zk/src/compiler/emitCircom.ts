import { BaseError } from '@verity/protocol'
import { commitmentElementsPerHash } from '../commitment/computeInputCommitment.ts'
import { inputCommitmentCircom } from '../commitment/inputCommitmentCircom.ts'
import { packedBytesPerElement } from '../commitment/packInputBytes.ts'
import { zkFieldOrder } from '../commitment/toField.ts'
import { analyzeZkRanges, type ZkValueRange } from './analyzeZkRanges.ts'
import { convOutputSize } from './convGeometry.ts'
import { bitLength, planRequantize, type RequantizePlan } from './planRequantize.ts'
import { tieReachable } from './roundShift.ts'
import { zkGadgetsCircom } from './zkGadgetsCircom.ts'
import { shapeSize, type ZkGraph, type ZkOp, type ZkRequantizeOp } from './zkGraph.ts'

/** Options of {@link emitCircom}. */
export type EmitCircomOptions = {
  /** The model commitment assigned to the `modelCommitment` output (sha256 of the ONNX mod p). */
  modelCommitment: bigint
  /** Name of the main template, `[A-Za-z_][A-Za-z0-9_]*` (default `VerityModel`). */
  mainTemplate?: string
}

/** Where an estimate of the constraints comes from. */
export type ZkConstraintBreakdown = {
  /** `Num2Bits(8)` per input element. */
  inputRangeChecks: number
  /** Poseidon(5) chain of the input commitment. */
  inputCommitment: number
  /** Requantize / ReLU / Clip gadgets. */
  requantize: number
  /** MaxPool comparisons. */
  maxPool: number
}

/** The generated circuit. */
export type EmitCircomReturnType = {
  /** Circom 2 source (includes circomlib's poseidon, bitify and comparators by name). */
  source: string
  mainTemplate: string
  /** Length of the private input `in[N]`. */
  inputLength: number
  /** Length of the public output `out[M]`. */
  outputCount: number
  /** Estimated R1CS constraints with `--O2` (linear constraints are substituted away). */
  estimatedConstraints: number
  breakdown: ZkConstraintBreakdown
}

/**
 * R1CS constraints of one circomlib Poseidon(5) call (measured with circom 2.2.3 `--O2`, packing
 * included).
 *
 * @example
 * ```ts
 * poseidon5Constraints * 7 // ≈ the commitment of a 28×28 image
 * ```
 */
export const poseidon5Constraints = 320

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Circom array literal of integers, wrapped every 24 values. */
function literal(values: ArrayLike<number>): string {
  const parts: string[] = []
  for (let i = 0; i < values.length; i += 24)
    parts.push(
      Array.from({ length: Math.min(24, values.length - i) }, (_, j) =>
        integer(values[i + j]!),
      ).join(', '),
    )
  return `[${parts.join(',\n    ')}]`
}

function integer(value: number): string {
  if (!Number.isSafeInteger(value))
    throw new BaseError('INTERNAL', `The circuit needs integer constants; got ${value}.`, {
      metaMessages: ['Quantize the graph (quantizeForZk) before emitting a circuit.'],
    })
  return String(value)
}

function constArray(name: string, values: ArrayLike<number>): string {
  return `  var ${name}[${Math.max(1, values.length)}] = ${literal(values.length > 0 ? values : [0])};`
}

/** The per-group bounds that size a requantize gadget: per channel for NCHW values, else per element. */
function groupRange(
  range: ZkValueRange,
  shape: readonly number[],
  index: number,
): [number, number] {
  if (shape.length !== 4) return [range.min[index]!, range.max[index]!]
  const plane = shape[2]! * shape[3]!
  const start = index - (index % plane)
  let lo = Number.POSITIVE_INFINITY
  let hi = Number.NEGATIVE_INFINITY
  for (let i = start; i < start + plane; i++) {
    lo = Math.min(lo, range.min[i]!)
    hi = Math.max(hi, range.max[i]!)
  }
  return [lo, hi]
}

function channelUniform(op: ZkRequantizeOp, shape: readonly number[]): boolean {
  if (shape.length !== 4) return false
  const plane = shape[2]! * shape[3]!
  for (const array of [op.multiplier, op.offset, op.shift, op.min, op.max])
    for (let i = 0; i < array.length; i++) if (array[i] !== array[i - (i % plane)]) return false
  return true
}

/**
 * Emits the Circom 2 circuit of an integer graph. The main template has one private input
 * `in[N]` (the input tensor as integers, each range-checked with `Num2Bits(8)`) and the public
 * outputs `out[M]` (the output tensor; negative values are `p − |v|`), `inputCommitment` (Poseidon
 * chain over the input bytes) and `modelCommitment` (a constant), in that order. Weights are
 * constant arrays and sums are loops (one huge inline expression would overflow circom's stack);
 * constant products are free, so the cost is the range checks of requantize/ReLU/Clip gadgets and
 * MaxPool comparisons, sized by `analyzeZkRanges`.
 *
 * @example
 * ```ts
 * const { source, estimatedConstraints } = emitCircom(optimizeZkGraph(graph), {
 *   modelCommitment: computeModelCommitment(onnxBytes),
 * })
 * ```
 */
export function emitCircom(graph: ZkGraph, options: EmitCircomOptions): EmitCircomReturnType {
  const mainTemplate = options.mainTemplate ?? 'VerityModel'
  if (
    !NAME.test(mainTemplate) ||
    mainTemplate.startsWith('Zk') ||
    mainTemplate === 'InputCommitment'
  )
    throw new BaseError('INVALID_ARGUMENT', `"${mainTemplate}" is not a usable template name.`, {
      metaMessages: ['Use letters, digits and underscores, not starting with "Zk".'],
    })
  if (
    graph.numeric !== 'integer' ||
    (graph.input.dtype !== 'uint8' && graph.input.dtype !== 'int8')
  )
    throw new BaseError(
      'INVALID_ARGUMENT',
      'emitCircom needs an integer graph with a uint8 or int8 input.',
      {
        metaMessages: ['Quantize float graphs with quantizeForZk first.'],
      },
    )
  const commitment = options.modelCommitment
  if (typeof commitment !== 'bigint' || commitment < 0n || commitment >= zkFieldOrder)
    throw new BaseError(
      'INVALID_ARGUMENT',
      'modelCommitment must be a field element (a bigint in [0, p)).',
    )

  const ranges = analyzeZkRanges(graph)
  const inputLength = shapeSize(graph.input.shape)
  const outputCount = shapeSize(graph.output.shape)
  const signals = new Map<string, string>([[graph.input.name, 'in']])
  const body: string[] = []
  const breakdown: ZkConstraintBreakdown = {
    inputRangeChecks: 8 * inputLength,
    inputCommitment:
      Math.ceil(Math.ceil(inputLength / packedBytesPerElement) / commitmentElementsPerHash) *
      poseidon5Constraints,
    requantize: 0,
    maxPool: 0,
  }
  const signalOf = (name: string): string => {
    const signal = signals.get(name)
    if (!signal) throw new BaseError('INTERNAL', `No signal for value "${name}".`)
    return signal
  }
  const range = (name: string): ZkValueRange => {
    const value = ranges.get(name)
    if (!value) throw new BaseError('INTERNAL', `No range for value "${name}".`)
    return value
  }

  graph.ops.forEach((op: ZkOp, index) => {
    const id = `v${index}`
    const shape = graph.shapes.get(op.output) ?? []
    const size = shapeSize(shape)
    const lines: string[] = [
      `  // ${op.op} ${JSON.stringify(op.name).slice(1, -1).replace(/\*\//g, '* /')}`,
    ]
    if (op.op === 'reshape' || op.op === 'cast') {
      signals.set(op.output, signalOf(op.input))
      return
    }
    lines.push(`  signal ${id}[${size}];`)
    switch (op.op) {
      case 'matmul': {
        const x = signalOf(op.input)
        lines.push(constArray(`${id}w`, op.weights), constArray(`${id}b`, op.bias))
        lines.push(
          `  for (var j = 0; j < ${op.outFeatures}; j++) {`,
          `    var acc = ${id}b[j];`,
          `    for (var i = 0; i < ${op.inFeatures}; i++) {`,
          `      acc += ${id}w[i * ${op.outFeatures} + j] * (${x}[i] - ${integer(op.inputZeroPoint)});`,
          '    }',
          `    ${id}[j] <== acc;`,
          '  }',
        )
        break
      }
      case 'conv': {
        const x = signalOf(op.input)
        const [, , height, width] = graph.shapes.get(op.input) as [number, number, number, number]
        const [m, cg, kh, kw] = op.weightShape
        const oh = convOutputSize(
          height,
          kh,
          op.strides[0],
          op.pads[0],
          op.pads[2],
          op.dilations[0],
        )
        const ow = convOutputSize(width, kw, op.strides[1], op.pads[1], op.pads[3], op.dilations[1])
        lines.push(constArray(`${id}w`, op.weights), constArray(`${id}b`, op.bias))
        lines.push(
          `  for (var o = 0; o < ${m}; o++) {`,
          `    var g = o \\ ${m / op.group};`,
          `    for (var r = 0; r < ${oh}; r++) {`,
          `      for (var c = 0; c < ${ow}; c++) {`,
          `        var acc = ${id}b[o];`,
          `        for (var ci = 0; ci < ${cg}; ci++) {`,
          `          for (var a = 0; a < ${kh}; a++) {`,
          `            var ih = r * ${op.strides[0]} - ${op.pads[0]} + a * ${op.dilations[0]};`,
          `            for (var b = 0; b < ${kw}; b++) {`,
          `              var iw = c * ${op.strides[1]} - ${op.pads[1]} + b * ${op.dilations[1]};`,
          `              if (ih >= 0 && ih < ${height} && iw >= 0 && iw < ${width}) {`,
          `                acc += ${id}w[((o * ${cg} + ci) * ${kh} + a) * ${kw} + b] * (${x}[((g * ${cg} + ci) * ${height} + ih) * ${width} + iw] - ${integer(op.inputZeroPoint)});`,
          '              }',
          '            }',
          '          }',
          '        }',
          `        ${id}[(o * ${oh} + r) * ${ow} + c] <== acc;`,
          '      }',
          '    }',
          '  }',
        )
        break
      }
      case 'add': {
        const [a, b] = op.inputs.map(signalOf) as [string, string]
        lines.push(
          `  for (var i = 0; i < ${size}; i++) {`,
          `    ${id}[i] <== ${a}[i] + ${b}[i];`,
          '  }',
        )
        break
      }
      case 'addConstant':
      case 'mulConstant': {
        const x = signalOf(op.input)
        const values = op.op === 'addConstant' ? op.constant : op.factor
        const uniform = values.every((value) => value === values[0])
        const term = uniform ? integer(values[0] ?? 0) : `${id}c[i]`
        if (!uniform) lines.push(constArray(`${id}c`, values))
        lines.push(
          `  for (var i = 0; i < ${size}; i++) {`,
          `    ${id}[i] <== ${x}[i] ${op.op === 'addConstant' ? '+' : '*'} ${term};`,
          '  }',
        )
        break
      }
      case 'clamp':
      case 'requantize': {
        const requantize: ZkRequantizeOp =
          op.op === 'requantize'
            ? op
            : {
                op: 'requantize',
                name: op.name,
                input: op.input,
                output: op.output,
                multiplier: new Float64Array(size).fill(1),
                offset: new Float64Array(size),
                shift: new Float64Array(size),
                min: new Float64Array(size).fill(op.min),
                max: new Float64Array(size).fill(op.max),
                rounding: 'floor',
              }
        lines.push(
          ...emitRequantize(
            requantize,
            id,
            size,
            signalOf(op.input),
            range(op.input),
            graph.shapes.get(op.input) ?? [],
            breakdown,
          ),
        )
        break
      }
      case 'maxPool':
      case 'sumPool': {
        const x = signalOf(op.input)
        const [, channels, height, width] = graph.shapes.get(op.input) as [
          number,
          number,
          number,
          number,
        ]
        const dilations = op.op === 'maxPool' ? op.dilations : [1, 1]
        const oh = shape[2]!
        const ow = shape[3]!
        const windowSize = op.kernel[0] * op.kernel[1]
        let bits = 0
        if (op.op === 'maxPool') {
          const input = range(op.input)
          let lo = Number.POSITIVE_INFINITY
          let hi = Number.NEGATIVE_INFINITY
          for (let i = 0; i < input.min.length; i++) {
            lo = Math.min(lo, input.min[i]!)
            hi = Math.max(hi, input.max[i]!)
          }
          bits = bitLength(hi - lo)
          let comparisons = 0
          for (let r = 0; r < oh; r++)
            for (let c = 0; c < ow; c++) {
              let count = 0
              for (let a = 0; a < op.kernel[0]; a++)
                for (let b = 0; b < op.kernel[1]; b++) {
                  const ih = r * op.strides[0] - op.pads[0] + a * dilations[0]!
                  const iw = c * op.strides[1] - op.pads[1] + b * dilations[1]!
                  if (ih >= 0 && ih < height && iw >= 0 && iw < width) count++
                }
              comparisons += Math.max(0, count - 1)
            }
          breakdown.maxPool += comparisons * channels * (bits + 2)
          lines.push(`  component ${id}max[${size}][${Math.max(1, windowSize - 1)}];`)
        }
        lines.push(
          `  for (var ch = 0; ch < ${channels}; ch++) {`,
          `    for (var r = 0; r < ${oh}; r++) {`,
          `      for (var c = 0; c < ${ow}; c++) {`,
          `        var o = (ch * ${oh} + r) * ${ow} + c;`,
          '        var count = 0;',
          '        var acc = 0;',
          `        for (var a = 0; a < ${op.kernel[0]}; a++) {`,
          `          var ih = r * ${op.strides[0]} - ${op.pads[0]} + a * ${dilations[0]};`,
          `          for (var b = 0; b < ${op.kernel[1]}; b++) {`,
          `            var iw = c * ${op.strides[1]} - ${op.pads[1]} + b * ${dilations[1]};`,
          `            if (ih >= 0 && ih < ${height} && iw >= 0 && iw < ${width}) {`,
          `              var at = (ch * ${height} + ih) * ${width} + iw;`,
          ...(op.op === 'maxPool'
            ? [
                '              if (count == 0) {',
                `                acc = ${x}[at];`,
                '              } else {',
                `                ${id}max[o][count - 1] = ZkMax(${bits});`,
                `                ${id}max[o][count - 1].a <== acc;`,
                `                ${id}max[o][count - 1].b <== ${x}[at];`,
                `                acc = ${id}max[o][count - 1].out;`,
                '              }',
              ]
            : [`              acc += ${x}[at];`]),
          '              count += 1;',
          '            }',
          '          }',
          '        }',
          `        ${id}[o] <== acc;`,
          '      }',
          '    }',
          '  }',
        )
        break
      }
    }
    signals.set(op.output, id)
    body.push(...lines)
  })

  const out = signalOf(graph.output.name)
  const signed = graph.input.dtype === 'int8'
  const source = [
    'pragma circom 2.1.6;',
    '',
    `// Generated by @verity/zk's compiler from an ONNX model (${graph.sourceOperators.join(', ')}).`,
    `// Private input in[${inputLength}] (${graph.input.dtype}); public outputs out[${outputCount}], inputCommitment, modelCommitment.`,
    'include "poseidon.circom";',
    'include "bitify.circom";',
    'include "comparators.circom";',
    '',
    inputCommitmentCircom,
    zkGadgetsCircom,
    `template ${mainTemplate}() {`,
    `  signal input in[${inputLength}];`,
    `  signal output out[${outputCount}];`,
    '  signal output inputCommitment;',
    '  signal output modelCommitment;',
    '',
    `  // every input element is one ${graph.input.dtype} byte`,
    `  component inRange[${inputLength}];`,
    `  component commitment = InputCommitment(${inputLength});`,
    `  for (var i = 0; i < ${inputLength}; i++) {`,
    '    inRange[i] = Num2Bits(8);',
    ...(signed
      ? [
          '    inRange[i].in <== in[i] + 128;',
          "    // two's complement byte: in + 256 when in < 0 (bit 7 of in + 128 is 0)",
          '    commitment.in[i] <== in[i] + 256 - 256 * inRange[i].out[7];',
        ]
      : ['    inRange[i].in <== in[i];', '    commitment.in[i] <== in[i];']),
    '  }',
    '  inputCommitment <== commitment.out;',
    `  modelCommitment <== ${commitment};`,
    '',
    ...body,
    '',
    `  for (var i = 0; i < ${outputCount}; i++) {`,
    `    out[i] <== ${out}[i];`,
    '  }',
    '}',
    '',
    `component main = ${mainTemplate}();`,
    '',
  ].join('\n')
  const estimatedConstraints =
    breakdown.inputRangeChecks +
    breakdown.inputCommitment +
    breakdown.requantize +
    breakdown.maxPool
  return { source, mainTemplate, inputLength, outputCount, estimatedConstraints, breakdown }
}

function emitRequantize(
  op: ZkRequantizeOp,
  id: string,
  size: number,
  x: string,
  input: ZkValueRange,
  shape: readonly number[],
  breakdown: ZkConstraintBreakdown,
): string[] {
  const grouped = channelUniform(op, shape)
  const plans: RequantizePlan[] = []
  for (let i = 0; i < size; i++) {
    const [xMin, xMax] = grouped ? groupRange(input, shape, i) : [input.min[i]!, input.max[i]!]
    const m = op.multiplier[i]!
    const a = xMin * m + op.offset[i]!
    const b = xMax * m + op.offset[i]!
    const shift = op.shift[i]!
    // half to even costs a tie check only where an exact tie can occur in the input's range
    const halfEven =
      op.rounding === 'halfEven' &&
      tieReachable({ xMin, xMax, multiplier: m, offset: op.offset[i]!, shift })
    plans.push(
      planRequantize({
        vMin: Math.min(a, b),
        vMax: Math.max(a, b),
        shift,
        lo: op.min[i]!,
        hi: op.max[i]!,
        trunc: op.rounding === 'trunc',
        halfEven,
        zeroPoint: op.zeroPoint?.[i] ?? 0,
      }),
    )
  }
  const column = (pick: (plan: RequantizePlan & { kind: 'gadget' }) => number, fallback = 0) =>
    plans.map((plan) => (plan.kind === 'gadget' ? pick(plan) : fallback))
  breakdown.requantize += plans.reduce((sum, plan) => sum + plan.constraints, 0)
  const kind = plans.map((plan) =>
    plan.kind === 'constant' ? 0 : plan.kind === 'identity' ? 1 : 2,
  )
  const constant = plans.map((plan) => (plan.kind === 'constant' ? plan.value : 0))
  const lines = [
    constArray(`${id}kind`, kind),
    constArray(`${id}mul`, op.multiplier),
    constArray(`${id}off`, op.offset),
    constArray(`${id}const`, constant),
    constArray(
      `${id}tb`,
      column((plan) => plan.truncBits, -1),
    ),
    constArray(
      `${id}s`,
      column((plan) => plan.s),
    ),
    constArray(
      `${id}k`,
      column((plan) => plan.k),
    ),
    constArray(
      `${id}base`,
      column((plan) => plan.base),
    ),
    constArray(
      `${id}lo`,
      column((plan) => plan.hasLo),
    ),
    constArray(
      `${id}mode`,
      column((plan) => plan.hiMode),
    ),
    constArray(
      `${id}j`,
      column((plan) => plan.j),
    ),
    constArray(
      `${id}m`,
      column((plan) => plan.m),
    ),
    constArray(
      `${id}h`,
      column((plan) => plan.h),
    ),
    constArray(
      `${id}ev`,
      column((plan) => plan.even),
    ),
    constArray(
      `${id}par`,
      column((plan) => plan.parity),
    ),
    `  component ${id}rq[${size}];`,
    `  component ${id}tr[${size}];`,
    `  for (var i = 0; i < ${size}; i++) {`,
    `    if (${id}kind[i] == 0) {`,
    `      ${id}[i] <== ${id}const[i];`,
    `    } else if (${id}kind[i] == 1) {`,
    `      ${id}[i] <== ${x}[i] * ${id}mul[i] + ${id}off[i];`,
    '    } else {',
    `      ${id}rq[i] = ZkRequant(${id}s[i], ${id}k[i], ${id}base[i], ${id}lo[i], ${id}mode[i], ${id}j[i], ${id}m[i], ${id}h[i], ${id}ev[i], ${id}par[i]);`,
    `      if (${id}tb[i] >= 0) {`,
    `        ${id}tr[i] = ZkTruncAdjust(${id}tb[i], ${id}s[i]);`,
    `        ${id}tr[i].in <== ${x}[i] * ${id}mul[i] + ${id}off[i];`,
    `        ${id}rq[i].in <== ${id}tr[i].out;`,
    '      } else {',
    `        ${id}rq[i].in <== ${x}[i] * ${id}mul[i] + ${id}off[i];`,
    '      }',
    `      ${id}[i] <== ${id}rq[i].out;`,
    '    }',
    '  }',
  ]
  return lines
}
