import { BaseError } from '@verity/protocol'
import onnxProto from 'onnx-proto'
import { convOutputSize } from './convGeometry.ts'
import { fixedPointMultiplier } from './fixedPointMultiplier.ts'
import { onnxAttributes } from './onnxAttributes.ts'
import { type OnnxConstant, onnxIntToNumber, readOnnxTensor } from './readOnnxTensor.ts'
import {
  shapeSize,
  type ZkCastTarget,
  type ZkGraph,
  type ZkGraphInput,
  type ZkOp,
} from './zkGraph.ts'
import { onnxOperatorKey, zkSupportedOperators } from './zkSupportedOperators.ts'

type onnxNode = onnxProto.onnx.INodeProto

/** Limits applied to untrusted model files. */
export type LoadZkGraphOptions = {
  /** Largest accepted file (`MODEL_TOO_LARGE`), default 64 MiB. */
  maxModelBytes?: number
  /** Largest activation tensor, in elements (`ZK_TENSOR_TOO_LARGE`), default 2^20. */
  maxTensorElements?: number
  /** Largest total number of constant elements (`ZK_TENSOR_TOO_LARGE`), default 2^24. */
  maxConstantElements?: number
  /** Most nodes in the graph (`ZK_TENSOR_TOO_LARGE`), default 10 000. */
  maxNodes?: number
  /** Most multiply-accumulates of all MatMul/Conv layers together (`ZK_TENSOR_TOO_LARGE`), default 2^27. */
  maxMultiplyAccumulates?: number
}

/**
 * Defaults of {@link LoadZkGraphOptions}.
 *
 * @example
 * ```ts
 * loadZkGraph(bytes, { ...defaultLoadZkGraphOptions, maxTensorElements: 1 << 16 })
 * ```
 */
export const defaultLoadZkGraphOptions = {
  maxModelBytes: 64 * 1024 * 1024,
  maxTensorElements: 1 << 20,
  maxConstantElements: 1 << 24,
  maxNodes: 10_000,
  maxMultiplyAccumulates: 2 ** 27,
} as const satisfies Required<LoadZkGraphOptions>

/**
 * Significant bits of the fixed-point multipliers of QLinear* and QuantizeLinear: 24 represents
 * onnxruntime's float32 rescale factor exactly (see {@link onnxruntimeScale}).
 */
const requantizeMultiplierBits = 24

/**
 * The rescale factor onnxruntime's CPU kernels use for QLinearConv / QLinearMatMul:
 * `fl32(fl32(inputScale · weightScale) / outputScale)` in float32 arithmetic. Requantizing with
 * exactly this factor (24-bit multiplier) and rounding half to even reproduces onnxruntime's
 * `nearbyint(fl32(acc · factor)) + zeroPoint` except where the float32 product itself rounds onto
 * a tie (about 1 in 10^7 elements on mnist-12-int8).
 */
function onnxruntimeScale(inputScale: number, weightScale: number, outputScale: number): number {
  return Math.fround(Math.fround(inputScale * weightScale) / outputScale)
}

// ONNX element types
const FLOAT = 1
const UINT8 = 2
const INT8 = 3
const castTargets: Readonly<Record<number, ZkCastTarget>> = {
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  12: 'uint32',
}

/** What a name of the ONNX graph stands for while translating. */
type Sym =
  | { kind: 'const'; value: OnnxConstant }
  /** an integer tensor */
  | { kind: 'int'; ir: string; shape: number[]; dataType: number }
  /** a float tensor encoded as integers: real = ir · scale (integer graphs) */
  | { kind: 'encoded'; ir: string; shape: number[]; scale: number }
  /** a float tensor of a float graph */
  | { kind: 'float'; ir: string; shape: number[] }

type Dynamic = Exclude<Sym, { kind: 'const' }>

function quote(name: string | null | undefined): string {
  const text = name ?? ''
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)
}

function describeNode(node: onnxNode): string {
  return `${node.opType} (node ${quote(node.name)})`
}

function unsupported(node: onnxNode, reason: string, hint?: string): BaseError {
  return new BaseError(
    'ZK_GRAPH_UNSUPPORTED',
    `${describeNode(node)} cannot be compiled to a circuit: ${reason}`,
    { metaMessages: hint ? [hint] : [] },
  )
}

function invalid(message: string, cause?: unknown): BaseError {
  return new BaseError('MODEL_INVALID', message, {
    metaMessages: ['Check that the file is a complete, valid ONNX model.'],
    ...(cause === undefined ? {} : { cause }),
  })
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i])
}

/** Broadcasts a constant to `shape` (numpy rules; the constant may not enlarge the shape). */
function expand(constant: OnnxConstant, shape: readonly number[], node: onnxNode): Float64Array {
  const dims = constant.dims
  if (
    dims.length > shape.length ||
    dims.some((dim, i) => dim !== 1 && dim !== shape[shape.length - dims.length + i])
  )
    throw unsupported(
      node,
      `constant of shape [${dims.join(', ')}] does not broadcast to the tensor shape [${shape.join(', ')}].`,
    )
  const size = shapeSize(shape)
  const out = new Float64Array(size)
  const rank = shape.length
  const strides = new Array<number>(rank).fill(0)
  let stride = 1
  for (let i = dims.length - 1; i >= 0; i--) {
    strides[rank - dims.length + i] = dims[i] === 1 ? 0 : stride
    stride *= dims[i]!
  }
  const index = new Array<number>(rank).fill(0)
  for (let flat = 0; flat < size; flat++) {
    let source = 0
    for (let axis = 0; axis < rank; axis++) source += index[axis]! * strides[axis]!
    out[flat] = constant.data[source]!
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis] = index[axis]! + 1
      if (index[axis]! < shape[axis]!) break
      index[axis] = 0
    }
  }
  return out
}

function scalarOf(constant: OnnxConstant, node: onnxNode, what: string): number {
  if (constant.data.length !== 1)
    throw unsupported(node, `${what} must be a scalar; got shape [${constant.dims.join(', ')}].`)
  return constant.data[0]!
}

function isIntegral(data: Float64Array): boolean {
  return data.every((value) => Number.isInteger(value))
}

/** Conv/pool geometry: kernel, strides, pads (top, left, bottom, right), dilations. */
function windowGeometry(
  node: onnxNode,
  inputShape: readonly number[],
  kernelShape: readonly number[],
): {
  kernel: [number, number]
  strides: [number, number]
  pads: [number, number, number, number]
  dilations: [number, number]
  outHeight: number
  outWidth: number
} {
  const read = onnxAttributes(node)
  if (inputShape.length !== 4)
    throw unsupported(
      node,
      `only 2-D windows on NCHW tensors are supported; the input has shape [${inputShape.join(', ')}].`,
    )
  const [, , height, width] = inputShape as [number, number, number, number]
  const kernel = read.ints('kernel_shape', [...kernelShape])
  const strides = read.ints('strides', [1, 1])
  const dilations = read.ints('dilations', [1, 1])
  let pads = read.ints('pads', [0, 0, 0, 0])
  if (kernel.length !== 2 || strides.length !== 2 || dilations.length !== 2 || pads.length !== 4)
    throw unsupported(node, 'only 2-D kernels are supported.')
  if (
    [...kernel, ...strides, ...dilations].some((v) => !(v >= 1 && v <= 4096)) ||
    pads.some((v) => !(v >= 0 && v <= 4096))
  )
    throw invalid(`${describeNode(node)} has invalid kernel, stride, dilation or padding values.`)
  const autoPad = read.string('auto_pad', 'NOTSET')
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const padFor = (size: number, k: number, s: number, d: number): [number, number] => {
      const out = Math.ceil(size / s)
      const total = Math.max(0, (out - 1) * s + d * (k - 1) + 1 - size)
      const small = Math.floor(total / 2)
      return autoPad === 'SAME_UPPER' ? [small, total - small] : [total - small, small]
    }
    const [top, bottom] = padFor(height, kernel[0]!, strides[0]!, dilations[0]!)
    const [left, right] = padFor(width, kernel[1]!, strides[1]!, dilations[1]!)
    pads = [top, left, bottom, right]
  } else if (autoPad === 'VALID') pads = [0, 0, 0, 0]
  else if (autoPad !== 'NOTSET' && autoPad !== '')
    throw invalid(`${describeNode(node)} has auto_pad "${autoPad}".`)
  const outHeight = convOutputSize(
    height,
    kernel[0]!,
    strides[0]!,
    pads[0]!,
    pads[2]!,
    dilations[0]!,
  )
  const outWidth = convOutputSize(width, kernel[1]!, strides[1]!, pads[1]!, pads[3]!, dilations[1]!)
  if (outHeight < 1 || outWidth < 1)
    throw invalid(
      `${describeNode(node)} produces an empty output for input [${inputShape.join(', ')}].`,
    )
  return {
    kernel: kernel as [number, number],
    strides: strides as [number, number],
    pads: pads as [number, number, number, number],
    dilations: dilations as [number, number],
    outHeight,
    outWidth,
  }
}

function inputShapeOf(value: onnxProto.onnx.IValueInfoProto): number[] {
  const tensorType = value.type?.tensorType
  const name = quote(value.name)
  if (!tensorType?.shape)
    throw new BaseError('ZK_DYNAMIC_SHAPE', `Graph input ${name} has no declared shape.`, {
      metaMessages: [
        'A circuit needs a fixed input shape; export the model with static dimensions.',
      ],
    })
  const dims = tensorType.shape.dim ?? []
  if (dims.length === 0 || dims.length > 8)
    throw new BaseError(
      'ZK_GRAPH_UNSUPPORTED',
      `Graph input ${name} has rank ${dims.length}; expected 1 to 8.`,
    )
  return dims.map((dim, index) => {
    const which = (dim as { value?: string }).value
    const fixed =
      which === 'dimValue'
        ? onnxIntToNumber(dim.dimValue as Parameters<typeof onnxIntToNumber>[0])
        : undefined
    if (fixed !== undefined && fixed > 0) return fixed
    // the batch dimension is fixed to 1; every other dimension must be static
    if (index === 0) return 1
    throw new BaseError(
      'ZK_DYNAMIC_SHAPE',
      `Graph input ${name} has a dynamic dimension ${index} (${dim.dimParam ? quote(dim.dimParam) : 'unknown'}).`,
      {
        metaMessages: [
          'Only the batch dimension (0) may be dynamic: it is fixed to 1. Export the model with static spatial dimensions.',
        ],
      },
    )
  })
}

/** Topological order of the nodes (Kahn); throws on cycles and undefined inputs. */
function sortNodes(nodes: readonly onnxNode[], available: ReadonlySet<string>): onnxNode[] {
  const producers = new Map<string, number>()
  nodes.forEach((node, index) => {
    for (const output of node.output ?? []) {
      if (!output) continue
      if (producers.has(output) || available.has(output))
        throw invalid(`Value ${quote(output)} is produced twice (the graph is not in SSA form).`)
      producers.set(output, index)
    }
  })
  const pending = nodes.map(
    (node) => new Set((node.input ?? []).filter((name) => name && !available.has(name))),
  )
  const consumers = new Map<number, number[]>()
  pending.forEach((inputs, index) => {
    for (const name of inputs) {
      const producer = producers.get(name)
      if (producer === undefined)
        throw invalid(
          `${describeNode(nodes[index]!)} reads ${quote(name)}, which no node, input or initializer defines.`,
        )
      consumers.set(producer, [...(consumers.get(producer) ?? []), index])
    }
  })
  const remaining = pending.map((inputs, index) => {
    let count = 0
    for (const name of inputs) if (producers.get(name) !== index) count++
    return count
  })
  const ready = remaining.flatMap((count, index) => (count === 0 ? [index] : []))
  const order: onnxNode[] = []
  const done = new Set<number>()
  while (ready.length > 0) {
    const index = ready.shift()!
    if (done.has(index)) continue
    done.add(index)
    order.push(nodes[index]!)
    for (const consumer of consumers.get(index) ?? []) {
      remaining[consumer] = remaining[consumer]! - 1
      if (remaining[consumer] === 0) ready.push(consumer)
    }
  }
  if (order.length !== nodes.length) throw invalid('The graph has a cycle.')
  return order
}

/**
 * Parses an ONNX model (untrusted bytes) into the compiler's IR ({@link ZkGraph}): a
 * topologically ordered list of operations on static shapes with the batch dimension fixed to 1.
 * Integer models (MatMulInteger/ConvInteger, the QLinear* and Quantize/DequantizeLinear patterns of
 * onnxruntime-quantized models) load as an `integer` graph; float models (Gemm/MatMul/Conv with
 * float weights) load as a `float` graph for `quantizeForZk`.
 *
 * Throws `ZK_UNSUPPORTED_OPERATORS` listing every operator outside the supported set (type and
 * node name), `ZK_GRAPH_UNSUPPORTED` for supported operators in a form a circuit cannot compute,
 * `ZK_DYNAMIC_SHAPE`, `ZK_TENSOR_TOO_LARGE`, `MODEL_TOO_LARGE`, `MODEL_EXTERNAL_DATA` and
 * `MODEL_INVALID` for malformed files.
 *
 * @example
 * ```ts
 * const graph = loadZkGraph(readFileSync('digits-mlp-int8.onnx'))
 * graph.numeric // 'integer'
 * graph.ops.map((op) => op.op) // ['reshape', 'matmul', 'addConstant', …]
 * ```
 */
export function loadZkGraph(onnxBytes: Uint8Array, options: LoadZkGraphOptions = {}): ZkGraph {
  const limits = { ...defaultLoadZkGraphOptions, ...options }
  if (!(onnxBytes instanceof Uint8Array))
    throw new BaseError('INVALID_ARGUMENT', 'loadZkGraph expects the ONNX file as a Uint8Array.')
  if (onnxBytes.length > limits.maxModelBytes)
    throw new BaseError(
      'MODEL_TOO_LARGE',
      `The model has ${onnxBytes.length} bytes; the ZK compiler accepts at most ${limits.maxModelBytes}.`,
      {
        metaMessages: [
          'Circuits hold every weight as a constant: only small models can be proven.',
        ],
      },
    )
  let model: onnxProto.onnx.ModelProto
  try {
    model = onnxProto.onnx.ModelProto.decode(onnxBytes)
  } catch (cause) {
    const text = cause instanceof Error ? cause.message : String(cause)
    throw invalid(`The bytes are not an ONNX model: ${text.split('\n')[0]?.slice(0, 200)}`, cause)
  }
  const graph = model.graph
  if (!graph || (graph.node ?? []).length === 0)
    throw invalid('The model has no graph or no nodes.')
  const nodes = graph.node ?? []
  if (nodes.length > limits.maxNodes)
    throw new BaseError(
      'ZK_TENSOR_TOO_LARGE',
      `The graph has ${nodes.length} nodes; at most ${limits.maxNodes} are accepted.`,
    )
  const opset =
    onnxIntToNumber(
      (model.opsetImport ?? []).find((entry) => !entry.domain || entry.domain === 'ai.onnx')
        ?.version as Parameters<typeof onnxIntToNumber>[0] | undefined,
    ) ?? 13

  // 1. refuse every unsupported operator at once
  const refused = nodes.filter(
    (node) => !zkSupportedOperators.has(onnxOperatorKey(node.domain, node.opType)),
  )
  if (refused.length > 0) {
    const listed = refused.map((node) => {
      const domain = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}:` : ''
      return `${domain}${node.opType} (node ${quote(node.name)})`
    })
    const types = [...new Set(refused.map((node) => node.opType ?? ''))].sort()
    throw new BaseError(
      'ZK_UNSUPPORTED_OPERATORS',
      `The model uses ${refused.length} operator node(s) the ZK compiler cannot turn into a circuit: ${types.join(', ')}.`,
      {
        metaMessages: [
          ...listed.slice(0, 50),
          ...(listed.length > 50 ? [`… and ${listed.length - 50} more`] : []),
          `Supported: ${[...zkSupportedOperators].map((key) => key.replace('ai.onnx:', '')).join(', ')}.`,
        ],
        details: listed.join('; '),
      },
    )
  }

  // 2. constants
  const syms = new Map<string, Sym>()
  let constantElements = 0
  const addConstant = (name: string, value: OnnxConstant) => {
    constantElements += value.data.length
    if (constantElements > limits.maxConstantElements)
      throw new BaseError(
        'ZK_TENSOR_TOO_LARGE',
        `The model's constants exceed ${limits.maxConstantElements} elements.`,
        {
          metaMessages: [
            'Circuits hold every weight as a constant: only small models can be proven.',
          ],
        },
      )
    syms.set(name, { kind: 'const', value })
  }
  for (const tensor of graph.initializer ?? [])
    addConstant(
      tensor.name ?? '',
      readOnnxTensor(tensor, limits.maxConstantElements - constantElements),
    )

  // 3. the single input and output
  const inputs = (graph.input ?? []).filter((value) => !syms.has(value.name ?? ''))
  if (inputs.length !== 1)
    throw new BaseError(
      'ZK_GRAPH_UNSUPPORTED',
      `The model has ${inputs.length} graph inputs (${inputs.map((value) => quote(value.name)).join(', ')}); a circuit takes exactly one.`,
    )
  const outputs = graph.output ?? []
  if (outputs.length !== 1)
    throw new BaseError(
      'ZK_GRAPH_UNSUPPORTED',
      `The model has ${outputs.length} graph outputs; a circuit exposes exactly one output tensor.`,
    )
  const inputValue = inputs[0]!
  const inputName = inputValue.name ?? ''
  const inputShape = inputShapeOf(inputValue)
  const elemType = inputValue.type?.tensorType?.elemType ?? 0
  if (elemType !== FLOAT && elemType !== UINT8 && elemType !== INT8)
    throw new BaseError(
      'ZK_GRAPH_UNSUPPORTED',
      `Graph input ${quote(inputName)} has ONNX element type ${elemType}; the ZK compiler takes uint8, int8 or float32 inputs.`,
    )
  const checkSize = (shape: readonly number[], what: string) => {
    const size = shapeSize(shape)
    if (!(size <= limits.maxTensorElements))
      throw new BaseError(
        'ZK_TENSOR_TOO_LARGE',
        `${what} has ${size} elements; the ZK compiler accepts tensors of at most ${limits.maxTensorElements}.`,
      )
  }
  checkSize(inputShape, `Graph input ${quote(inputName)}`)

  const order = sortNodes(nodes, new Set([inputName, ...syms.keys()]))

  // 4. integer or float graph? A float input whose every consumer is the same QuantizeLinear
  // is the quantized integer input itself (onnxruntime-quantized models such as mnist-12-int8).
  const input: ZkGraphInput = { name: inputName, shape: inputShape, dtype: 'uint8' }
  const skipped = new Set<onnxNode>()
  let numeric: 'integer' | 'float' = 'integer'
  if (elemType === FLOAT) {
    const consumers = order.filter((node) => (node.input ?? []).includes(inputName))
    const params = consumers.map((node) => {
      if (node.opType !== 'QuantizeLinear') return undefined
      const scale = syms.get(node.input?.[1] ?? '')
      const zero = node.input?.[2] ? syms.get(node.input[2]) : undefined
      if (scale?.kind !== 'const' || scale.value.data.length !== 1) return undefined
      if (zero && (zero.kind !== 'const' || zero.value.data.length !== 1)) return undefined
      const zeroConst = zero?.kind === 'const' ? zero.value : undefined
      return {
        scale: scale.value.data[0]!,
        zeroPoint: zeroConst?.data[0] ?? 0,
        dataType: zeroConst?.dataType ?? UINT8,
      }
    })
    const first = params[0]
    if (
      first &&
      (first.dataType === UINT8 || first.dataType === INT8) &&
      params.every(
        (p) =>
          p &&
          p.scale === first.scale &&
          p.zeroPoint === first.zeroPoint &&
          p.dataType === first.dataType,
      )
    ) {
      input.dtype = first.dataType === INT8 ? 'int8' : 'uint8'
      input.scale = first.scale
      input.zeroPoint = first.zeroPoint
      for (const node of consumers) {
        skipped.add(node)
        syms.set(node.output?.[0] ?? '', {
          kind: 'int',
          ir: inputName,
          shape: inputShape,
          dataType: first.dataType,
        })
      }
    } else {
      numeric = 'float'
      input.dtype = 'float32'
    }
  } else input.dtype = elemType === INT8 ? 'int8' : 'uint8'
  if (numeric === 'integer' && elemType !== FLOAT)
    syms.set(inputName, { kind: 'int', ir: inputName, shape: inputShape, dataType: elemType })
  if (numeric === 'float') syms.set(inputName, { kind: 'float', ir: inputName, shape: inputShape })

  // 5. translate node by node
  const ops: ZkOp[] = []
  const shapes = new Map<string, number[]>([[inputName, inputShape]])
  let fresh = 0
  const irName = (base: string) => {
    let name = base || `v${fresh}`
    while (shapes.has(name)) name = `${base || 'v'}#${++fresh}`
    return name
  }
  let multiplyAccumulates = 0
  const emit = (op: ZkOp, shape: number[]) => {
    checkSize(shape, `Tensor ${quote(op.output)}`)
    if (op.op === 'matmul' || op.op === 'conv') {
      multiplyAccumulates +=
        op.op === 'matmul'
          ? op.weights.length
          : (shapeSize(shape) * op.weights.length) / op.weightShape[0]
      if (!(multiplyAccumulates <= limits.maxMultiplyAccumulates))
        throw new BaseError(
          'ZK_TENSOR_TOO_LARGE',
          `The model needs more than ${limits.maxMultiplyAccumulates} multiply-accumulates per inference; the ZK compiler accepts models up to that size.`,
          { metaMessages: ['Circuits grow with the model: prove a smaller model.'] },
        )
    }
    shapes.set(op.output, shape)
    ops.push(op)
  }

  for (const node of order) {
    if (skipped.has(node)) continue
    const read = onnxAttributes(node)
    const opType = node.opType ?? ''
    const nodeName = node.name || `${opType}_${ops.length}`
    const outName = node.output?.[0] ?? ''
    if (!outName) throw invalid(`${describeNode(node)} has no output.`)
    if ((node.output ?? []).filter(Boolean).length > 1)
      throw unsupported(node, 'only the first output is computed; the node declares more.')
    const argument = (index: number): Sym | undefined => {
      const name = node.input?.[index]
      if (!name) return undefined
      const sym = syms.get(name)
      if (!sym) throw invalid(`${describeNode(node)} reads ${quote(name)} before it is defined.`)
      return sym
    }
    const constant = (index: number, what: string): OnnxConstant => {
      const sym = argument(index)
      if (sym?.kind !== 'const')
        throw unsupported(
          node,
          `${what} (input ${index}) must be a constant of the model.`,
          'Weights, scales and zero points are circuit constants; only the graph input may vary.',
        )
      return sym.value
    }
    const optionalConstant = (index: number, what: string): OnnxConstant | undefined =>
      argument(index) ? constant(index, what) : undefined
    const dynamic = (index: number): Dynamic => {
      const sym = argument(index)
      if (!sym) throw invalid(`${describeNode(node)} lacks input ${index}.`)
      if (sym.kind === 'const')
        throw unsupported(node, `input ${index} is a constant where a tensor was expected.`)
      return sym
    }
    const define = (sym: Sym) => syms.set(outName, sym)
    const like = (source: Dynamic, ir: string, shape: number[]): Dynamic =>
      source.kind === 'encoded'
        ? { kind: 'encoded', ir, shape, scale: source.scale }
        : source.kind === 'int'
          ? { kind: 'int', ir, shape, dataType: source.dataType }
          : { kind: 'float', ir, shape }
    const requireKind = (sym: Dynamic, kinds: readonly Dynamic['kind'][], what: string) => {
      if (!kinds.includes(sym.kind))
        throw unsupported(
          node,
          `${what} is ${sym.kind === 'int' ? 'an integer' : sym.kind === 'float' ? 'a float' : 'a dequantized (float) tensor'} tensor here.`,
        )
    }

    // constant folding of shape-only and elementwise operators on constants
    const allConstant = (node.input ?? [])
      .filter(Boolean)
      .every((name) => syms.get(name)?.kind === 'const')
    if (opType === 'Constant') {
      const tensor = read.tensor('value')
      if (tensor)
        addConstant(outName, readOnnxTensor(tensor, limits.maxConstantElements - constantElements))
      else if (read.has('value_float'))
        addConstant(outName, {
          dataType: FLOAT,
          dims: [],
          data: Float64Array.of(read.float('value_float', 0)),
        })
      else if (read.has('value_int'))
        addConstant(outName, {
          dataType: 7,
          dims: [],
          data: Float64Array.of(read.int('value_int', 0)),
        })
      else if (read.has('value_ints')) {
        const values = read.ints('value_ints', [])
        addConstant(outName, {
          dataType: 7,
          dims: [values.length],
          data: Float64Array.from(values),
        })
      } else
        throw unsupported(
          node,
          'only value, value_float, value_int and value_ints constants are supported.',
        )
      continue
    }
    if (allConstant && (node.input ?? []).length > 0) {
      const folded = foldConstant(node, opType, (i) => constant(i, 'operand'), read)
      if (folded) {
        addConstant(outName, folded)
        continue
      }
    }

    switch (opType) {
      case 'Identity': {
        define(dynamic(0))
        break
      }
      case 'Flatten':
      case 'Reshape': {
        const x = dynamic(0)
        const size = shapeSize(x.shape)
        let shape: number[]
        if (opType === 'Flatten') {
          let axis = read.int('axis', 1)
          if (axis < 0) axis += x.shape.length
          if (axis < 0 || axis > x.shape.length)
            throw invalid(`${describeNode(node)} has axis ${axis}.`)
          const head = shapeSize(x.shape.slice(0, axis))
          shape = [head, size / head]
        } else {
          const target = Array.from(constant(1, 'the target shape').data)
          if (target.length > 8)
            throw invalid(`${describeNode(node)} has a target shape of rank ${target.length}.`)
          const allowZero = read.int('allowzero', 0) === 1
          shape = target.map((dim, i) => (dim === 0 && !allowZero ? (x.shape[i] ?? 0) : dim))
          const unknown = shape.filter((dim) => dim === -1).length
          if (unknown > 1 || shape.some((dim) => dim < -1 || !Number.isInteger(dim)))
            throw invalid(`${describeNode(node)} has target shape [${target.join(', ')}].`)
          if (unknown === 1) {
            const known = shapeSize(shape.filter((dim) => dim !== -1))
            shape = shape.map((dim) => (dim === -1 ? (known === 0 ? 0 : size / known) : dim))
          }
        }
        if (shapeSize(shape) !== size || shape.some((dim) => !Number.isInteger(dim)))
          throw invalid(
            `${describeNode(node)} reshapes [${x.shape.join(', ')}] to [${shape.join(', ')}]: the element counts differ.`,
          )
        const ir = irName(outName)
        emit({ op: 'reshape', name: nodeName, input: x.ir, output: ir }, shape)
        define(like(x, ir, shape))
        break
      }
      case 'Cast': {
        const x = dynamic(0)
        const to = read.int('to', 0)
        if (x.kind === 'float' || x.kind === 'encoded') {
          if (to === FLOAT || to === 11) define(x)
          else if (x.kind === 'encoded' && x.scale === 1 && castTargets[to]) {
            const ir = irName(outName)
            emit(
              { op: 'cast', name: nodeName, input: x.ir, output: ir, to: castTargets[to] },
              x.shape,
            )
            define({ kind: 'int', ir, shape: x.shape, dataType: to })
          } else
            throw unsupported(
              node,
              `a cast of a float tensor to element type ${to} truncates real values.`,
            )
        } else if (to === FLOAT || to === 11)
          define({ kind: 'encoded', ir: x.ir, shape: x.shape, scale: 1 })
        else if (castTargets[to]) {
          const ir = irName(outName)
          emit(
            { op: 'cast', name: nodeName, input: x.ir, output: ir, to: castTargets[to] },
            x.shape,
          )
          define({ kind: 'int', ir, shape: x.shape, dataType: to })
        } else throw unsupported(node, `casts to ONNX element type ${to} are not supported.`)
        break
      }
      case 'MatMulInteger':
      case 'MatMul':
      case 'Gemm':
      case 'QLinearMatMul': {
        const quantized = opType === 'QLinearMatMul'
        const a = dynamic(0)
        if (opType === 'MatMulInteger' || quantized) requireKind(a, ['int'], 'input A')
        else requireKind(a, numeric === 'float' ? ['float'] : ['int'], 'input A')
        const b = constant(quantized ? 3 : 1, 'matrix B')
        const transA = opType === 'Gemm' ? read.int('transA', 0) : 0
        const transB = opType === 'Gemm' ? read.int('transB', 0) : 0
        if (transA !== 0) throw unsupported(node, 'transA = 1 is not supported.')
        if (b.dims.length !== 2)
          throw unsupported(node, `B must be a 2-D constant; got shape [${b.dims.join(', ')}].`)
        const [k, n] = (transB ? [b.dims[1]!, b.dims[0]!] : [b.dims[0]!, b.dims[1]!]) as [
          number,
          number,
        ]
        const batch = a.shape.slice(0, -1)
        if (a.shape.at(-1) !== k || shapeSize(batch) !== 1)
          throw unsupported(
            node,
            `A has shape [${a.shape.join(', ')}]; expected batch 1 and ${k} features.`,
          )
        const alpha = opType === 'Gemm' ? read.float('alpha', 1) : 1
        const beta = opType === 'Gemm' ? read.float('beta', 1) : 1
        const weights = new Float64Array(k * n)
        for (let i = 0; i < k; i++)
          for (let j = 0; j < n; j++)
            weights[i * n + j] = alpha * b.data[transB ? j * k + i : i * n + j]!
        let bias: Float64Array = new Float64Array(n)
        let inputZeroPoint = 0
        if (opType === 'Gemm') {
          const c = optionalConstant(2, 'bias C')
          if (c) bias = expand(c, [n], node).map((value) => value * beta)
        }
        if (opType === 'MatMulInteger' || quantized) {
          const aZero = optionalConstant(2, 'A zero point')
          const bZero = optionalConstant(quantized ? 5 : 3, 'B zero point')
          inputZeroPoint = aZero ? scalarOf(aZero, node, 'the A zero point') : 0
          if (bZero) {
            const zero = expand(bZero, [n], node)
            for (let i = 0; i < k; i++)
              for (let j = 0; j < n; j++) weights[i * n + j] = weights[i * n + j]! - zero[j]!
          }
        }
        if (numeric === 'integer' && !isIntegral(weights))
          throw unsupported(
            node,
            'an integer graph needs integer weights; this one has float weights.',
            'Quantize float models with quantizeForZk (the graph input must be float then).',
          )
        const shape = [...batch, n]
        const ir = irName(quantized ? `${outName}#acc` : outName)
        emit(
          {
            op: 'matmul',
            name: nodeName,
            input: a.ir,
            output: ir,
            inFeatures: k,
            outFeatures: n,
            weights,
            bias,
            inputZeroPoint,
          },
          shape,
        )
        if (!quantized) {
          define(numeric === 'float'
            ? { kind: 'float', ir, shape }
            : { kind: 'int', ir, shape, dataType: 6 })
          break
        }
        const aScale = scalarOf(constant(1, 'A scale'), node, 'the A scale')
        const bScale = expand(constant(4, 'B scale'), [n], node)
        const yScale = scalarOf(constant(6, 'Y scale'), node, 'the Y scale')
        const yZero = optionalConstant(7, 'Y zero point')
        const factors = Float64Array.from(bScale, (s) => onnxruntimeScale(aScale, s, yScale))
        define(requantizeTo(node, nodeName, ir, shape, factors, yZero, [n], outName))
        break
      }
      case 'Conv':
      case 'ConvInteger':
      case 'QLinearConv': {
        const quantized = opType === 'QLinearConv'
        const x = dynamic(0)
        requireKind(x, opType === 'Conv' ? ['float'] : ['int'], 'input X')
        const w = constant(quantized ? 3 : 1, 'weights W')
        if (w.dims.length !== 4)
          throw unsupported(
            node,
            `only 2-D convolutions are supported; W has shape [${w.dims.join(', ')}].`,
          )
        const [m, cg, kh, kw] = w.dims as [number, number, number, number]
        const group = read.int('group', 1)
        const channels = x.shape[1] ?? 0
        if (!(group >= 1) || m % group !== 0 || cg * group !== channels)
          throw invalid(
            `${describeNode(node)}: W [${w.dims.join(', ')}] with group ${group} does not fit input channels ${channels}.`,
          )
        const geometry = windowGeometry(node, x.shape, [kh, kw])
        if (geometry.kernel[0] !== kh || geometry.kernel[1] !== kw)
          throw invalid(`${describeNode(node)}: kernel_shape disagrees with W.`)
        const weights = Float64Array.from(w.data)
        let bias: Float64Array = new Float64Array(m)
        let inputZeroPoint = 0
        if (opType === 'Conv') {
          const b = optionalConstant(2, 'bias B')
          if (b) bias = expand(b, [m], node)
        } else {
          const xZero = optionalConstant(2, 'X zero point')
          const wZero = optionalConstant(quantized ? 5 : 3, 'W zero point')
          inputZeroPoint = xZero ? scalarOf(xZero, node, 'the X zero point') : 0
          if (wZero) {
            const zero = expand(wZero, [m], node)
            const per = cg * kh * kw
            for (let i = 0; i < weights.length; i++)
              weights[i] = weights[i]! - zero[Math.floor(i / per)]!
          }
          if (quantized) {
            const b = optionalConstant(8, 'bias B')
            if (b) bias = expand(b, [m], node)
          }
        }
        if (numeric === 'integer' && (!isIntegral(weights) || !isIntegral(bias)))
          throw unsupported(node, 'an integer graph needs integer weights and bias.')
        const shape = [1, m, geometry.outHeight, geometry.outWidth]
        const ir = irName(quantized ? `${outName}#acc` : outName)
        emit(
          {
            op: 'conv',
            name: nodeName,
            input: x.ir,
            output: ir,
            weights,
            weightShape: [m, cg, kh, kw],
            bias,
            strides: geometry.strides,
            pads: geometry.pads,
            dilations: geometry.dilations,
            group,
            inputZeroPoint,
          },
          shape,
        )
        if (!quantized) {
          define(numeric === 'float'
            ? { kind: 'float', ir, shape }
            : { kind: 'int', ir, shape, dataType: 6 })
          break
        }
        const xScale = scalarOf(constant(1, 'X scale'), node, 'the X scale')
        const wScale = expand(constant(4, 'W scale'), [m], node)
        const yScale = scalarOf(constant(6, 'Y scale'), node, 'the Y scale')
        const yZero = optionalConstant(7, 'Y zero point')
        const perChannel = Float64Array.from(wScale, (s) => onnxruntimeScale(xScale, s, yScale))
        const factors = expand({ dataType: FLOAT, dims: [m, 1, 1], data: perChannel }, shape, node)
        define(requantizeTo(node, nodeName, ir, shape, factors, yZero, shape, outName))
        break
      }
      case 'QuantizeLinear': {
        const x = dynamic(0)
        requireKind(x, ['encoded'], 'input X')
        if (x.kind !== 'encoded') break
        const scaleConst = constant(1, 'Y scale')
        const zero = optionalConstant(2, 'Y zero point')
        const axis = read.int('axis', 1)
        const scale = perAxis(scaleConst, x.shape, axis, node)
        const factors = scale.map((s) => x.scale / s)
        const zeroAxis = zero ? { ...zero, data: perAxis(zero, x.shape, axis, node) } : undefined
        define(requantizeTo(node, nodeName, x.ir, x.shape, factors, zeroAxis, x.shape, outName))
        break
      }
      case 'DequantizeLinear': {
        const x = dynamic(0)
        requireKind(x, ['int'], 'input X')
        const scale = scalarOf(
          constant(1, 'X scale'),
          node,
          'the X scale (per-axis dequantization of activations is not supported)',
        )
        const zero = optionalConstant(2, 'X zero point')
        const zeroPoint = zero ? scalarOf(zero, node, 'the X zero point') : 0
        let ir = x.ir
        if (zeroPoint !== 0) {
          ir = irName(outName)
          emit(
            {
              op: 'addConstant',
              name: nodeName,
              input: x.ir,
              output: ir,
              constant: new Float64Array(shapeSize(x.shape)).fill(-zeroPoint),
            },
            x.shape,
          )
        }
        if (!(scale > 0)) throw unsupported(node, `the scale ${scale} is not positive.`)
        define({ kind: 'encoded', ir, shape: x.shape, scale })
        break
      }
      case 'QLinearAdd': {
        const first = argument(0)
        const second = argument(3)
        const dynamicIndex = first?.kind !== 'const' ? 0 : 3
        const constIndex = dynamicIndex === 0 ? 3 : 0
        if (first?.kind !== 'const' && second?.kind !== 'const')
          throw unsupported(
            node,
            'adding two variable quantized tensors is not supported; one operand must be constant.',
          )
        const a = dynamic(dynamicIndex)
        requireKind(a, ['int'], 'the variable operand')
        const aScale = scalarOf(constant(dynamicIndex + 1, 'A scale'), node, 'the A scale')
        const aZeroConst = optionalConstant(dynamicIndex + 2, 'A zero point')
        const aZero = aZeroConst ? scalarOf(aZeroConst, node, 'the A zero point') : 0
        const b = expand(constant(constIndex, 'B'), a.shape, node)
        const bScale = scalarOf(constant(constIndex + 1, 'B scale'), node, 'the B scale')
        const bZeroConst = optionalConstant(constIndex + 2, 'B zero point')
        const bZero = bZeroConst ? scalarOf(bZeroConst, node, 'the B zero point') : 0
        const cScale = scalarOf(constant(6, 'C scale'), node, 'the C scale')
        const cZero = optionalConstant(7, 'C zero point')
        // real = (a − za)·sa + (b − zb)·sb; C = round(real / sc) + zc
        let ir = a.ir
        if (aZero !== 0) {
          ir = irName(`${outName}#centered`)
          emit(
            {
              op: 'addConstant',
              name: nodeName,
              input: a.ir,
              output: ir,
              constant: new Float64Array(b.length).fill(-aZero),
            },
            a.shape,
          )
        }
        // onnxruntime: nearbyint(a·fl32(sa/sc) + b·fl32(sb/sc) + fixed), zero point included
        const factor = Math.fround(aScale / cScale)
        const bFactor = Math.fround(bScale / cScale)
        const extra = Float64Array.from(b, (value) => (value - bZero) * bFactor)
        define(requantizeTo(
          node,
          nodeName,
          ir,
          a.shape,
          new Float64Array(b.length).fill(factor),
          cZero,
          a.shape,
          outName,
          { values: extra, shift: fixedPointMultiplier(bFactor, requantizeMultiplierBits).shift },
          false,
        ))
        break
      }
      case 'Add':
      case 'Sub': {
        const left = argument(0)
        const right = argument(1)
        if (!left || !right) throw invalid(`${describeNode(node)} needs two inputs.`)
        const sign = opType === 'Sub' ? -1 : 1
        if (left.kind !== 'const' && right.kind !== 'const') {
          if (left.kind !== right.kind || !sameShape(left.shape, right.shape))
            throw unsupported(
              node,
              `both operands vary; they must have the same kind and shape ([${left.shape.join(', ')}] vs [${right.shape.join(', ')}]).`,
            )
          if (left.kind === 'encoded' && right.kind === 'encoded' && left.scale !== right.scale)
            throw unsupported(node, 'the two dequantized operands have different scales.')
          let rightIr = right.ir
          if (sign < 0) {
            rightIr = irName(`${outName}#negated`)
            emit(
              {
                op: 'mulConstant',
                name: nodeName,
                input: right.ir,
                output: rightIr,
                factor: new Float64Array(shapeSize(right.shape)).fill(-1),
              },
              right.shape,
            )
          }
          const ir = irName(outName)
          emit({ op: 'add', name: nodeName, inputs: [left.ir, rightIr], output: ir }, left.shape)
          define(like(left, ir, left.shape))
          break
        }
        if (left.kind === 'const' && sign < 0)
          throw unsupported(node, 'constant minus tensor is not supported.')
        const x = left.kind === 'const' ? (right as Dynamic) : left
        const c = (left.kind === 'const' ? left : right) as { kind: 'const'; value: OnnxConstant }
        let values = expand(c.value, x.shape, node).map((value) => sign * value)
        if (x.kind === 'encoded') values = values.map((value) => Math.round(value / x.scale))
        else if (x.kind === 'int' && !isIntegral(values))
          throw unsupported(node, 'adding a non-integer constant to an integer tensor.')
        const ir = irName(outName)
        emit(
          { op: 'addConstant', name: nodeName, input: x.ir, output: ir, constant: values },
          x.shape,
        )
        define(like(x, ir, x.shape))
        break
      }
      case 'Mul':
      case 'Div': {
        const left = argument(0)
        const right = argument(1)
        if (!left || !right) throw invalid(`${describeNode(node)} needs two inputs.`)
        if (left.kind !== 'const' && right.kind !== 'const')
          throw unsupported(
            node,
            'multiplying two variable tensors is not supported (only constant factors).',
          )
        if (opType === 'Div' && left.kind === 'const')
          throw unsupported(node, 'dividing a constant by a tensor is not supported.')
        const x = left.kind === 'const' ? (right as Dynamic) : left
        const c = (left.kind === 'const' ? left : right) as { kind: 'const'; value: OnnxConstant }
        const values = expand(c.value, x.shape, node)
        if (x.kind === 'int') {
          if (opType === 'Mul') {
            if (!isIntegral(values))
              throw unsupported(node, 'multiplying an integer tensor by a non-integer constant.')
            const ir = irName(outName)
            emit(
              { op: 'mulConstant', name: nodeName, input: x.ir, output: ir, factor: values },
              x.shape,
            )
            define(like(x, ir, x.shape))
          } else {
            const shifts = values.map((d) => Math.log2(d))
            if (!shifts.every((s) => Number.isInteger(s) && s >= 0 && s <= 62))
              throw unsupported(
                node,
                'integer Div is supported only by constant powers of two (a rounding shift).',
                'Divide by 2^k, as the demo int8 model does, or requantize with QLinear operators.',
              )
            const size = shapeSize(x.shape)
            const ir = irName(outName)
            emit(
              {
                op: 'requantize',
                name: nodeName,
                input: x.ir,
                output: ir,
                multiplier: new Float64Array(size).fill(1),
                offset: new Float64Array(size),
                shift: shifts,
                min: new Float64Array(size).fill(Number.NEGATIVE_INFINITY),
                max: new Float64Array(size).fill(Number.POSITIVE_INFINITY),
                rounding: 'trunc',
              },
              x.shape,
            )
            define(like(x, ir, x.shape))
          }
          break
        }
        const factors = opType === 'Mul' ? values : values.map((value) => 1 / value)
        if (x.kind === 'encoded') {
          const factor = factors[0]!
          if (
            !factors.every((value) => value === factor) ||
            !(factor !== 0 && Number.isFinite(factor))
          )
            throw unsupported(
              node,
              'a dequantized tensor can be scaled only by one non-zero constant.',
            )
          if (factor > 0) define({ ...x, scale: x.scale * factor })
          else {
            const ir = irName(outName)
            emit(
              {
                op: 'mulConstant',
                name: nodeName,
                input: x.ir,
                output: ir,
                factor: new Float64Array(factors.length).fill(-1),
              },
              x.shape,
            )
            define({ kind: 'encoded', ir, shape: x.shape, scale: -x.scale * factor })
          }
          break
        }
        if (!factors.every(Number.isFinite)) throw unsupported(node, 'division by zero.')
        const ir = irName(outName)
        emit(
          { op: 'mulConstant', name: nodeName, input: x.ir, output: ir, factor: factors },
          x.shape,
        )
        define(like(x, ir, x.shape))
        break
      }
      case 'Relu':
      case 'Clip': {
        const x = dynamic(0)
        let low = Number.NEGATIVE_INFINITY
        let high = Number.POSITIVE_INFINITY
        if (opType === 'Relu') low = 0
        else if (opset < 11) {
          low = read.float('min', Number.NEGATIVE_INFINITY)
          high = read.float('max', Number.POSITIVE_INFINITY)
        } else {
          const min = optionalConstant(1, 'min')
          const max = optionalConstant(2, 'max')
          if (min) low = scalarOf(min, node, 'min')
          if (max) high = scalarOf(max, node, 'max')
        }
        if (x.kind === 'encoded') {
          low = Math.ceil(low / x.scale)
          high = Math.floor(high / x.scale)
        } else if (x.kind === 'int') {
          low = Math.ceil(low)
          high = Math.floor(high)
        }
        if (low > high) throw unsupported(node, `min ${low} is above max ${high}.`)
        const ir = irName(outName)
        emit({ op: 'clamp', name: nodeName, input: x.ir, output: ir, min: low, max: high }, x.shape)
        define(like(x, ir, x.shape))
        break
      }
      case 'MaxPool':
      case 'AveragePool': {
        const x = dynamic(0)
        if (!read.has('kernel_shape')) throw invalid(`${describeNode(node)} has no kernel_shape.`)
        const geometry = windowGeometry(node, x.shape, [])
        if (read.int('ceil_mode', 0) === 1) {
          if (opType === 'AveragePool')
            throw unsupported(node, 'ceil_mode = 1 changes the divisor at the border.')
          // ceil mode = floor mode with extra padding at the end (padded positions are ignored)
          const [, , height, width] = x.shape as [number, number, number, number]
          const extra = (
            size: number,
            k: number,
            s: number,
            begin: number,
            end: number,
            d: number,
          ) => {
            const span = size + begin + end - d * (k - 1) - 1
            return span % s === 0 ? 0 : s - (span % s)
          }
          geometry.pads[2] += extra(
            height,
            geometry.kernel[0],
            geometry.strides[0],
            geometry.pads[0],
            geometry.pads[2],
            geometry.dilations[0],
          )
          geometry.pads[3] += extra(
            width,
            geometry.kernel[1],
            geometry.strides[1],
            geometry.pads[1],
            geometry.pads[3],
            geometry.dilations[1],
          )
          geometry.outHeight = convOutputSize(
            height,
            geometry.kernel[0],
            geometry.strides[0],
            geometry.pads[0],
            geometry.pads[2],
            geometry.dilations[0],
          )
          geometry.outWidth = convOutputSize(
            width,
            geometry.kernel[1],
            geometry.strides[1],
            geometry.pads[1],
            geometry.pads[3],
            geometry.dilations[1],
          )
        }
        if (geometry.pads[0] >= geometry.kernel[0] || geometry.pads[1] >= geometry.kernel[1])
          throw unsupported(node, 'padding as large as the kernel leaves empty windows.')
        const shape = [x.shape[0]!, x.shape[1]!, geometry.outHeight, geometry.outWidth]
        if (opType === 'MaxPool') {
          if (read.int('storage_order', 0) !== 0)
            throw unsupported(node, 'storage_order = 1 is not supported.')
          const ir = irName(outName)
          emit(
            {
              op: 'maxPool',
              name: nodeName,
              input: x.ir,
              output: ir,
              kernel: geometry.kernel,
              strides: geometry.strides,
              pads: geometry.pads,
              dilations: geometry.dilations,
            },
            shape,
          )
          define(like(x, ir, shape))
          break
        }
        if (x.kind === 'int')
          throw unsupported(node, 'AveragePool is defined on float tensors only.')
        if (geometry.dilations[0] !== 1 || geometry.dilations[1] !== 1)
          throw unsupported(node, 'dilated average pooling is not supported.')
        const padded = geometry.pads.some((pad) => pad > 0)
        if (padded && read.int('count_include_pad', 0) === 0)
          throw unsupported(
            node,
            'average pooling over padding without count_include_pad divides by a position-dependent count.',
          )
        const count = geometry.kernel[0] * geometry.kernel[1]
        const ir = irName(x.kind === 'float' ? `${outName}#sum` : outName)
        emit(
          {
            op: 'sumPool',
            name: nodeName,
            input: x.ir,
            output: ir,
            kernel: geometry.kernel,
            strides: geometry.strides,
            pads: geometry.pads,
          },
          shape,
        )
        if (x.kind === 'encoded') define({ kind: 'encoded', ir, shape, scale: x.scale / count })
        else {
          const scaled = irName(outName)
          emit(
            {
              op: 'mulConstant',
              name: nodeName,
              input: ir,
              output: scaled,
              factor: new Float64Array(shapeSize(shape)).fill(1 / count),
            },
            shape,
          )
          define({ kind: 'float', ir: scaled, shape })
        }
        break
      }
      default:
        throw unsupported(node, 'the operator is not handled in this position.')
    }
  }

  // requantization helper for QLinear* and QuantizeLinear
  function requantizeTo(
    node: onnxNode,
    nodeName: string,
    input: string,
    shape: number[],
    factors: Float64Array,
    zero: OnnxConstant | undefined,
    factorShape: number[],
    outName: string,
    /** A constant added before rounding, exact with `shift` fractional bits. */
    extra?: { values: Float64Array; shift: number },
    tiesBeforeZeroPoint = true,
  ): Sym {
    const size = shapeSize(shape)
    const full =
      factors.length === size
        ? factors
        : expand({ dataType: FLOAT, dims: factorShape, data: factors }, shape, node)
    const zeroPoints = zero ? expand(zero, shape, node) : new Float64Array(size)
    const dataType = zero?.dataType ?? UINT8
    if (dataType !== UINT8 && dataType !== INT8)
      throw unsupported(node, `quantized type ${dataType} is not uint8 or int8.`)
    const [low, high] = dataType === INT8 ? [-128, 127] : [0, 255]
    const multiplier = new Float64Array(size)
    const offset = new Float64Array(size)
    const shift = new Float64Array(size)
    for (let i = 0; i < size; i++) {
      const factor = full[i]!
      if (!(factor > 0) || !Number.isFinite(factor))
        throw unsupported(node, `the rescale factor ${factor} is not positive.`)
      const fixed = fixedPointMultiplier(factor, requantizeMultiplierBits)
      // enough fractional bits for the added constant too
      const s = Math.max(fixed.shift, extra?.shift ?? 0)
      multiplier[i] = fixed.multiplier * 2 ** (s - fixed.shift)
      shift[i] = s
      const half = s > 0 ? 2 ** (s - 1) : 0
      offset[i] = half + zeroPoints[i]! * 2 ** s + Math.round((extra?.values[i] ?? 0) * 2 ** s)
    }
    const ir = irName(outName)
    emit(
      {
        op: 'requantize',
        name: nodeName,
        input,
        output: ir,
        multiplier,
        offset,
        shift,
        min: new Float64Array(size).fill(low),
        max: new Float64Array(size).fill(high),
        rounding: 'halfEven',
        zeroPoint: tiesBeforeZeroPoint ? zeroPoints : new Float64Array(size),
      },
      shape,
    )
    return { kind: 'int', ir, shape, dataType }
  }

  function perAxis(
    constant: OnnxConstant,
    shape: number[],
    axis: number,
    node: onnxNode,
  ): Float64Array {
    if (constant.data.length === 1)
      return new Float64Array(shapeSize(shape)).fill(constant.data[0]!)
    const rank = shape.length
    const resolved = axis < 0 ? axis + rank : axis
    const dims = shape.map((dim, i) => (i === resolved ? dim : 1))
    return expand({ ...constant, dims }, shape, node)
  }

  // 6. the output
  const outputName = outputs[0]!.name ?? ''
  const result = syms.get(outputName)
  if (!result || result.kind === 'const')
    throw new BaseError(
      'ZK_GRAPH_UNSUPPORTED',
      `The graph output ${quote(outputName)} is ${result ? 'a constant' : 'never computed'}.`,
    )
  const sourceOperators = [...new Set(nodes.map((node) => node.opType ?? ''))].sort()
  return {
    numeric,
    input,
    output: {
      name: result.ir,
      onnxName: outputName,
      shape: result.shape,
      ...(result.kind === 'encoded' ? { scale: result.scale } : {}),
    },
    shapes,
    ops,
    sourceOperators,
  }
}

/** Folds shape and elementwise operators whose inputs are all constants; undefined when not. */
function foldConstant(
  node: onnxNode,
  opType: string,
  constant: (index: number) => OnnxConstant,
  read: ReturnType<typeof onnxAttributes>,
): OnnxConstant | undefined {
  switch (opType) {
    case 'Identity':
      return constant(0)
    case 'Reshape': {
      const x = constant(0)
      const target = Array.from(constant(1).data)
      const size = x.data.length
      let dims = target.map((dim, i) => (dim === 0 ? (x.dims[i] ?? 0) : dim))
      if (dims.filter((dim) => dim === -1).length === 1) {
        const known = shapeSize(dims.filter((dim) => dim !== -1))
        dims = dims.map((dim) => (dim === -1 ? size / known : dim))
      }
      if (shapeSize(dims) !== size || dims.some((dim) => !Number.isInteger(dim) || dim < 0))
        throw invalid(
          `${describeNode(node)} reshapes a constant of ${size} elements to [${target.join(', ')}].`,
        )
      return { ...x, dims }
    }
    case 'Flatten': {
      const x = constant(0)
      let axis = read.int('axis', 1)
      if (axis < 0) axis += x.dims.length
      const head = shapeSize(x.dims.slice(0, axis))
      return { ...x, dims: [head, head === 0 ? 0 : x.data.length / head] }
    }
    case 'Cast': {
      const x = constant(0)
      const to = read.int('to', 1)
      return {
        dataType: to,
        dims: x.dims,
        data: to === 1 || to === 11 ? x.data : x.data.map(Math.trunc),
      }
    }
    case 'DequantizeLinear': {
      const x = constant(0)
      const scale = constant(1)
      const zero = node.input?.[2] ? constant(2) : undefined
      const axis = read.int('axis', 1)
      const rank = x.dims.length
      const resolved = axis < 0 ? axis + rank : axis
      const per =
        scale.data.length === 1 ? 1 : x.dims.slice(resolved + 1).reduce((a, b) => a * b, 1)
      const count = scale.data.length
      const data = x.data.map((value, i) => {
        const channel = count === 1 ? 0 : Math.floor(i / per) % count
        return (
          (value - (zero?.data[zero.data.length === 1 ? 0 : channel] ?? 0)) * scale.data[channel]!
        )
      })
      return { dataType: 1, dims: x.dims, data }
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div': {
      const a = constant(0)
      const b = constant(1)
      if (!sameShape(a.dims, b.dims) && a.data.length !== 1 && b.data.length !== 1) return undefined
      const dims = a.data.length >= b.data.length ? a.dims : b.dims
      const size = Math.max(a.data.length, b.data.length)
      const integer = a.dataType !== 1 && a.dataType !== 11
      const data = new Float64Array(size)
      for (let i = 0; i < size; i++) {
        const x = a.data[a.data.length === 1 ? 0 : i]!
        const y = b.data[b.data.length === 1 ? 0 : i]!
        data[i] =
          opType === 'Add'
            ? x + y
            : opType === 'Sub'
              ? x - y
              : opType === 'Mul'
                ? x * y
                : integer
                  ? Math.trunc(x / y)
                  : x / y
      }
      return { dataType: a.dataType, dims, data }
    }
    default:
      return undefined
  }
}
