import { BaseError } from '@verity/protocol'
import { analyzeZkRanges } from './analyzeZkRanges.ts'
import {
  shapeSize,
  type ZkGraph,
  type ZkMaxPoolOp,
  type ZkOp,
  type ZkRequantizeOp,
  zkOpInputs,
} from './zkGraph.ts'

function consumersOf(graph: ZkGraph): Map<string, ZkOp[]> {
  const consumers = new Map<string, ZkOp[]>()
  for (const op of graph.ops)
    for (const input of zkOpInputs(op)) consumers.set(input, [...(consumers.get(input) ?? []), op])
  return consumers
}

function rename(op: ZkOp, from: string, to: string): ZkOp {
  if (op.op === 'add')
    return {
      ...op,
      inputs: op.inputs.map((name) => (name === from ? to : name)) as [string, string],
    }
  return op.input === from ? { ...op, input: to } : op
}

/** Replaces every read of `from` by `to` (the graph output included). */
function alias(graph: ZkGraph, from: string, to: string): ZkGraph {
  return {
    ...graph,
    ops: graph.ops.map((op) => rename(op, from, to)),
    output: graph.output.name === from ? { ...graph.output, name: to } : graph.output,
  }
}

function isSoleConsumer(graph: ZkGraph, consumers: Map<string, ZkOp[]>, name: string): boolean {
  return (consumers.get(name)?.length ?? 0) === 1 && graph.output.name !== name
}

function clampAsRequantize(op: ZkOp & { op: 'clamp' }, size: number): ZkRequantizeOp {
  return {
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
}

function isPureClamp(op: ZkRequantizeOp): boolean {
  return (
    op.multiplier.every((m) => m === 1) &&
    op.offset.every((o) => o === 0) &&
    op.shift.every((s) => s === 0)
  )
}

/** clamp(clamp(q, a, b), c, d) per element, as one clamp. */
function composeClamps(first: ZkRequantizeOp, second: ZkRequantizeOp): ZkRequantizeOp {
  const min = first.min.map((a, i) => {
    const b = first.max[i]!
    const c = second.min[i]!
    const d = second.max[i]!
    if (b < c) return c
    if (a > d) return d
    return Math.max(a, c)
  })
  const max = first.max.map((b, i) => {
    const a = first.min[i]!
    const c = second.min[i]!
    const d = second.max[i]!
    if (b < c) return c
    if (a > d) return d
    return Math.min(b, d)
  })
  return { ...first, output: second.output, min, max }
}

/** Whether every parameter of a requantize is constant over each channel plane of an NCHW value. */
function channelUniform(op: ZkRequantizeOp, shape: readonly number[]): boolean {
  if (shape.length !== 4) return false
  const plane = shape[2]! * shape[3]!
  const arrays = [
    op.multiplier,
    op.offset,
    op.shift,
    op.min,
    op.max,
    ...(op.zeroPoint ? [op.zeroPoint] : []),
  ]
  for (const array of arrays)
    for (let i = 0; i < array.length; i++) if (array[i] !== array[i - (i % plane)]) return false
  return true
}

function perChannel(
  array: Float64Array,
  inPlane: number,
  outPlane: number,
  channels: number,
): Float64Array {
  const out = new Float64Array(channels * outPlane)
  for (let c = 0; c < channels; c++) out.fill(array[c * inPlane]!, c * outPlane, (c + 1) * outPlane)
  return out
}

type Pass = (graph: ZkGraph) => ZkGraph | undefined

/** Casts proven to keep their values (by the range analysis) become aliases. */
const dropCasts: Pass = (graph) => {
  const cast = graph.ops.find((op) => op.op === 'cast')
  if (cast?.op !== 'cast') return undefined
  const rest = { ...graph, ops: graph.ops.filter((op) => op !== cast) }
  return alias(rest, cast.output, cast.input)
}

/** addConstant after a matmul/conv whose constant is per output channel: into the bias. */
const foldBias: Pass = (graph) => {
  const consumers = consumersOf(graph)
  const producers = new Map(graph.ops.map((op) => [op.output, op]))
  for (const op of graph.ops) {
    if (op.op !== 'addConstant') continue
    const producer = producers.get(op.input)
    if (!producer || !isSoleConsumer(graph, consumers, op.input)) continue
    if (producer.op === 'matmul') {
      const bias = producer.bias.map((b, j) => b + op.constant[j]!)
      const merged: ZkOp = { ...producer, bias, output: op.output }
      return {
        ...graph,
        ops: graph.ops.filter((o) => o !== op).map((o) => (o === producer ? merged : o)),
      }
    }
    if (producer.op === 'conv') {
      const shape = graph.shapes.get(producer.output) ?? []
      const plane = (shape[2] ?? 1) * (shape[3] ?? 1)
      let uniform = true
      for (let i = 0; i < op.constant.length && uniform; i++)
        uniform = op.constant[i] === op.constant[i - (i % plane)]
      if (!uniform) continue
      const bias = producer.bias.map((b, m) => b + op.constant[m * plane]!)
      const merged: ZkOp = { ...producer, bias, output: op.output }
      return {
        ...graph,
        ops: graph.ops.filter((o) => o !== op).map((o) => (o === producer ? merged : o)),
      }
    }
    if (producer.op === 'addConstant') {
      const constant = producer.constant.map((c, i) => c + op.constant[i]!)
      const merged: ZkOp = { ...producer, constant, output: op.output }
      return {
        ...graph,
        ops: graph.ops.filter((o) => o !== op).map((o) => (o === producer ? merged : o)),
      }
    }
  }
  return undefined
}

/** Clamps become requantizations (×1, no shift) so that the fusions below see one kind. */
const clampsToRequantize: Pass = (graph) => {
  if (!graph.ops.some((op) => op.op === 'clamp')) return undefined
  return {
    ...graph,
    ops: graph.ops.map((op) =>
      op.op === 'clamp' ? clampAsRequantize(op, shapeSize(graph.shapes.get(op.output) ?? [])) : op,
    ),
  }
}

/** addConstant feeding a requantize: into its offset (offset += c · multiplier). */
const absorbOffsets: Pass = (graph) => {
  const consumers = consumersOf(graph)
  const producers = new Map(graph.ops.map((op) => [op.output, op]))
  for (const op of graph.ops) {
    if (op.op !== 'requantize') continue
    const producer = producers.get(op.input)
    if (producer?.op !== 'addConstant' || !isSoleConsumer(graph, consumers, op.input)) continue
    const offset = op.offset.map((o, i) => o + producer.constant[i]! * op.multiplier[i]!)
    const merged: ZkOp = { ...op, input: producer.input, offset }
    return {
      ...graph,
      ops: graph.ops.filter((o) => o !== producer).map((o) => (o === op ? merged : o)),
    }
  }
  return undefined
}

/** A pure clamp after a requantize: one requantize with the intersected bounds. */
const composeRequantizeClamp: Pass = (graph) => {
  const consumers = consumersOf(graph)
  const producers = new Map(graph.ops.map((op) => [op.output, op]))
  for (const op of graph.ops) {
    if (op.op !== 'requantize' || !isPureClamp(op)) continue
    const producer = producers.get(op.input)
    if (producer?.op !== 'requantize' || !isSoleConsumer(graph, consumers, op.input)) continue
    const merged = composeClamps(producer, op)
    return {
      ...graph,
      ops: graph.ops.filter((o) => o !== op).map((o) => (o === producer ? merged : o)),
    }
  }
  return undefined
}

/**
 * A monotone requantize (multipliers ≥ 0, parameters constant per channel) followed by a max pool
 * commutes with it: pool first, then requantize the fewer pooled values.
 */
const poolBeforeRequantize: Pass = (graph) => {
  const consumers = consumersOf(graph)
  const producers = new Map(graph.ops.map((op) => [op.output, op]))
  for (const op of graph.ops) {
    if (op.op !== 'maxPool') continue
    const producer = producers.get(op.input)
    if (producer?.op !== 'requantize' || !isSoleConsumer(graph, consumers, op.input)) continue
    const inShape = graph.shapes.get(producer.output) ?? []
    if (!producer.multiplier.every((m) => m >= 0) || !channelUniform(producer, inShape)) continue
    const outShape = graph.shapes.get(op.output) ?? []
    const inPlane = (inShape[2] ?? 1) * (inShape[3] ?? 1)
    const outPlane = (outShape[2] ?? 1) * (outShape[3] ?? 1)
    const channels = inShape[1] ?? 1
    let pooledName = `${op.output}#pooled`
    while (graph.shapes.has(pooledName)) pooledName += '_'
    const pool: ZkMaxPoolOp = { ...op, input: producer.input, output: pooledName }
    const requantize: ZkRequantizeOp = {
      ...producer,
      input: pooledName,
      output: op.output,
      multiplier: perChannel(producer.multiplier, inPlane, outPlane, channels),
      offset: perChannel(producer.offset, inPlane, outPlane, channels),
      shift: perChannel(producer.shift, inPlane, outPlane, channels),
      min: perChannel(producer.min, inPlane, outPlane, channels),
      max: perChannel(producer.max, inPlane, outPlane, channels),
      ...(producer.zeroPoint
        ? { zeroPoint: perChannel(producer.zeroPoint, inPlane, outPlane, channels) }
        : {}),
    }
    const shapes = new Map(graph.shapes)
    shapes.set(pooledName, outShape)
    shapes.delete(producer.output)
    const ops = graph.ops.flatMap((o) =>
      o === producer ? [] : o === op ? [pool, requantize] : [o],
    )
    return { ...graph, shapes, ops }
  }
  return undefined
}

/** trunc and floor agree once the result is clamped at a non-negative minimum. */
const truncToFloor: Pass = (graph) => {
  const op = graph.ops.find(
    (o) => o.op === 'requantize' && o.rounding === 'trunc' && o.min.every((min) => min >= 0),
  )
  if (op?.op !== 'requantize') return undefined
  return {
    ...graph,
    ops: graph.ops.map((o) => (o === op ? { ...op, rounding: 'floor' as const } : o)),
  }
}

/** Operations whose result nobody reads are removed. */
const removeDead: Pass = (graph) => {
  const used = new Set([graph.output.name])
  const kept: ZkOp[] = []
  for (const op of [...graph.ops].reverse()) {
    if (!used.has(op.output)) continue
    kept.push(op)
    for (const input of zkOpInputs(op)) used.add(input)
  }
  if (kept.length === graph.ops.length) return undefined
  return { ...graph, ops: kept.reverse() }
}

const passes: readonly Pass[] = [
  dropCasts,
  foldBias,
  clampsToRequantize,
  absorbOffsets,
  composeRequantizeClamp,
  poolBeforeRequantize,
  truncToFloor,
  removeDead,
]

/**
 * Rewrites an integer graph into an equivalent one that costs fewer constraints: casts proven
 * lossless disappear, constant additions fold into biases and requantization offsets, Add(round)
 * + Div(2^k) + Clip + Cast fuse into one requantize, a monotone requantize (ReLU, Clip) moves
 * behind a following MaxPool, and dead operations go. The result computes exactly the same
 * integers (the range analysis runs first and validates every cast).
 *
 * @example
 * ```ts
 * const optimized = optimizeZkGraph(loadZkGraph(int8Bytes))
 * optimized.ops.map((op) => op.op) // ['reshape', 'matmul', 'requantize', 'matmul']
 * ```
 */
export function optimizeZkGraph(graph: ZkGraph): ZkGraph {
  if (graph.numeric !== 'integer')
    throw new BaseError(
      'INVALID_ARGUMENT',
      'optimizeZkGraph needs an integer graph; got a float graph.',
      {
        metaMessages: ['Quantize the graph first with quantizeForZk.'],
      },
    )
  analyzeZkRanges(graph)
  let current = graph
  for (let round = 0; round < 100_000; round++) {
    let changed = false
    for (const pass of passes) {
      const next = pass(current)
      if (next) {
        current = next
        changed = true
        break
      }
    }
    if (!changed) return current
  }
  return current
}
