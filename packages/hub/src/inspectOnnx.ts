import { BaseError, type TensorSpec, tensorLimits } from '@verity/protocol'
import {
  dtypeFromOnnx,
  firstLine,
  type LongLike,
  longToBigInt,
  longToNumber,
  type onnx,
  onnxSchema,
  onnxTypeName,
  quoteName,
} from './onnxProto.ts'

/** Limits applied to untrusted ONNX files. */
export type OnnxLimits = {
  /** Largest accepted file, checked before parsing (`MODEL_TOO_LARGE`). */
  maxModelBytes: number
  /** Largest fixed dimension a graph input or output may declare (`MODEL_DIM_TOO_LARGE`). */
  maxDim: number
  /**
   * Operators the executing engine implements, as `'domain:OpType'` (default domain written
   * `ai.onnx`). When given, every other operator is refused (`MODEL_UNSUPPORTED_OPERATOR`).
   * The engine package owns this set; the hub only receives it.
   */
  supportedOperators?: ReadonlySet<string>
  /**
   * Opset versions the executing engine implements, per domain (default domain written `ai.onnx`).
   * When given, a model importing a version outside the range of a listed domain is refused
   * (`MODEL_UNSUPPORTED_OPERATOR`): onnxruntime has no kernels for very old opsets.
   */
  supportedOpsets?: Readonly<Record<string, { min: number; max: number }>>
}

/**
 * Default limits: 512 MiB files (protobuf itself stops at 2 GiB and the whole file is parsed in
 * memory) and 2^20 for a fixed input/output dimension. Manifests copy `maxDim` as the run-time cap
 * for dynamic dimensions.
 *
 * @example
 * ```ts
 * inspectOnnx(bytes, { ...defaultOnnxLimits, maxModelBytes: 64 * 1024 * 1024 })
 * ```
 */
export const defaultOnnxLimits: OnnxLimits = Object.freeze({
  maxModelBytes: 512 * 1024 * 1024,
  maxDim: 1 << 20,
})

/** A tensor whose bytes live outside the model file (ONNX external data). */
export type OnnxExternalData = {
  /** Tensor name (may be empty for attribute tensors). */
  tensor: string
  /** Where in the model the tensor sits, e.g. `graph > node "If_0".then_branch > node "c".value`. */
  where: string
  /** The `location` entry of `external_data` (a path relative to the model file), if any. */
  location: string | undefined
  /** What makes the location dangerous beyond being external. */
  danger: 'absolute path' | 'path traversal' | undefined
}

/** What an ONNX file declares, read without running it. */
export type OnnxInfo = {
  irVersion: number
  /** Opset version per domain; the default domain is written `ai.onnx`. */
  opsets: Record<string, number>
  /** `producer_name` and `producer_version`, e.g. `'CNTK 2.5.1'`. */
  producer: string
  /** Sorted unique `'domain:OpType'` of every node, subgraphs and model-local functions included. */
  operators: string[]
  /** Graph inputs that are not initializers, as Verity tensor specs. */
  inputs: TensorSpec[]
  /** Graph outputs Verity can return. */
  outputs: TensorSpec[]
  /** Outputs Verity cannot return: non-tensors (e.g. `seq(map)`), unsupported dtypes, unknown rank. */
  skippedOutputs: string[]
  /** Inputs Verity cannot feed (strings, complex, bfloat16, non-tensors, unknown rank). */
  unsupportedInputs: Array<{ name: string; reason: string }>
  /** Tensors stored outside the file; {@link validateOnnx} refuses any. */
  externalData: OnnxExternalData[]
}

const maxIrVersion = 100
const maxGraphDepth = 64
const dimNamePattern = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/
const opTypePattern = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/
const domainPattern = /^[A-Za-z0-9_.-]{0,256}$/
const defaultDomain = 'ai.onnx'

function invalid(message: string, hints: string[] = [], details?: string): BaseError {
  return new BaseError('MODEL_INVALID', message, {
    metaMessages: hints,
    ...(details === undefined ? {} : { details }),
  })
}

/**
 * Checks user-supplied limits. Throws `INVALID_ARGUMENT` on nonsense values.
 *
 * @example
 * ```ts
 * resolveOnnxLimits({ maxDim: 4096 }) // { maxModelBytes: 536870912, maxDim: 4096 }
 * ```
 */
export function resolveOnnxLimits(options: Partial<OnnxLimits> = {}): OnnxLimits {
  const limits: OnnxLimits = { ...defaultOnnxLimits }
  if (options.maxModelBytes !== undefined) limits.maxModelBytes = options.maxModelBytes
  if (options.maxDim !== undefined) limits.maxDim = options.maxDim
  if (options.supportedOperators !== undefined)
    limits.supportedOperators = options.supportedOperators
  if (options.supportedOpsets !== undefined) limits.supportedOpsets = options.supportedOpsets
  if (!Number.isSafeInteger(limits.maxModelBytes) || limits.maxModelBytes < 1)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `maxModelBytes must be a positive integer; got ${limits.maxModelBytes}.`,
    )
  if (!Number.isInteger(limits.maxDim) || limits.maxDim < 1 || limits.maxDim > tensorLimits.maxDim)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `maxDim must be an integer in [1, ${tensorLimits.maxDim}]; got ${limits.maxDim}.`,
    )
  return limits
}

/** Canonical operator domain: the default domain (`''` or `ai.onnx`) is `ai.onnx`. */
function normalizeDomain(domain: string | null | undefined): string {
  return !domain || domain === defaultDomain ? defaultDomain : domain
}

/**
 * A dynamic dimension name that fits the manifest pattern `^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$`.
 *
 * @example
 * ```ts
 * sanitizeDimName('batch size') // 'batch_size'
 * sanitizeDimName('2*N') // '_2_N'
 * ```
 */
export function sanitizeDimName(name: string): string {
  let cleaned = name.replace(/[^A-Za-z0-9_.:-]/g, '_')
  if (!/^[A-Za-z_]/.test(cleaned)) cleaned = `_${cleaned}`
  cleaned = cleaned.slice(0, 64)
  return dimNamePattern.test(cleaned) ? cleaned : '_'
}

function describeType(type: onnx.ITypeProto | null | undefined, depth = 0): string {
  if (!type || depth > 8) return 'unknown type'
  if (type.tensorType) return `tensor(${onnxTypeName(type.tensorType.elemType)})`
  if (type.sequenceType) return `seq(${describeType(type.sequenceType.elemType, depth + 1)})`
  if (type.mapType)
    return `map(${onnxTypeName(type.mapType.keyType)}, ${describeType(type.mapType.valueType, depth + 1)})`
  if (type.optionalType) return `optional(${describeType(type.optionalType.elemType, depth + 1)})`
  if (type.sparseTensorType) return `sparse_tensor(${onnxTypeName(type.sparseTensorType.elemType)})`
  return 'unknown type'
}

type SpecResult = { spec: TensorSpec } | { reason: string }

function tensorSpecOf(value: onnx.IValueInfoProto): SpecResult {
  const name = value.name ?? ''
  const tensorType = value.type?.tensorType
  if (!tensorType) return { reason: `it is a ${describeType(value.type)}, not a tensor` }
  const dtype = dtypeFromOnnx(tensorType.elemType)
  if (!dtype)
    return {
      reason: `its element type is ${onnxTypeName(tensorType.elemType)}, which Verity tensors cannot hold`,
    }
  if (!tensorType.shape) return { reason: 'its shape (even its rank) is unknown' }
  const dims = tensorType.shape.dim ?? []
  if (dims.length > tensorLimits.maxRank)
    return { reason: `its rank ${dims.length} exceeds ${tensorLimits.maxRank}` }
  const shape = dims.map((dim, index): number | string => {
    const generated = (): string => sanitizeDimName(`${name}_dim${index}`)
    const which = (dim as { value?: string }).value
    if (which === 'dimValue') {
      const size = longToBigInt(dim.dimValue as LongLike)
      return size < 0n ? generated() : Number(size)
    }
    if (which === 'dimParam' && dim.dimParam) return sanitizeDimName(dim.dimParam)
    return generated()
  })
  return { spec: { name, dtype, shape } }
}

type Walk = {
  operators: Set<string>
  externalData: OnnxExternalData[]
  functions: Map<string, onnx.IFunctionProto>
  /** Local functions reached from the graph (their bodies were walked). */
  expanded: Set<string>
}

function locationDanger(location: string | undefined): OnnxExternalData['danger'] {
  if (location === undefined) return undefined
  if (/^([\\/]|[A-Za-z]:)/.test(location)) return 'absolute path'
  if (location.split(/[\\/]/).includes('..')) return 'path traversal'
  return undefined
}

function checkTensor(tensor: onnx.ITensorProto | null | undefined, where: string, walk: Walk) {
  if (!tensor) return
  const external = tensor.externalData ?? []
  if (tensor.dataLocation !== 1 && external.length === 0) return
  const location = external.find((entry) => entry.key === 'location')?.value ?? undefined
  walk.externalData.push({
    tensor: tensor.name ?? '',
    where,
    location,
    danger: locationDanger(location),
  })
}

function checkSparse(sparse: onnx.ISparseTensorProto | null | undefined, where: string, w: Walk) {
  if (!sparse) return
  checkTensor(sparse.values, `${where} (values)`, w)
  checkTensor(sparse.indices, `${where} (indices)`, w)
}

function walkNodes(
  nodes: readonly onnx.INodeProto[],
  where: string,
  depth: number,
  walk: Walk,
): void {
  if (depth > maxGraphDepth)
    throw invalid(`Subgraphs are nested more than ${maxGraphDepth} levels deep at ${where}.`)
  nodes.forEach((node, index) => {
    const opType = node.opType ?? ''
    const domain = node.domain ?? ''
    const label = `${where} > node ${node.name ? quoteName(node.name) : `#${index}`}`
    if (!opTypePattern.test(opType) || !domainPattern.test(domain))
      throw invalid(`Node ${index} of ${where} has no valid operator type.`, [
        `Found op_type ${JSON.stringify(opType.slice(0, 64))} in domain ${JSON.stringify(domain.slice(0, 64))}.`,
      ])
    const key = `${normalizeDomain(domain)}:${opType}`
    const local = walk.functions.get(key)
    if (local) {
      // A call to a model-local function: what runs is its body, walked once however often it is
      // called (so nested calls cannot blow up, and recursion stops).
      if (!walk.expanded.has(key)) {
        walk.expanded.add(key)
        walkNodes(local.node ?? [], `function ${quoteName(key)}`, depth + 1, walk)
      }
    } else walk.operators.add(key)
    for (const attribute of node.attribute ?? []) {
      const at = `${label}.${attribute.name ? quoteName(attribute.name).slice(1, -1) : '?'}`
      checkTensor(attribute.t, at, walk)
      attribute.tensors?.forEach((tensor, i) => {
        checkTensor(tensor, `${at}[${i}]`, walk)
      })
      checkSparse(attribute.sparseTensor, at, walk)
      attribute.sparseTensors?.forEach((sparse, i) => {
        checkSparse(sparse, `${at}[${i}]`, walk)
      })
      if (attribute.g) walkGraph(attribute.g, at, depth + 1, walk)
      attribute.graphs?.forEach((graph, i) => {
        walkGraph(graph, `${at}[${i}]`, depth + 1, walk)
      })
    }
  })
}

function walkGraph(graph: onnx.IGraphProto, where: string, depth: number, walk: Walk): void {
  for (const tensor of graph.initializer ?? [])
    checkTensor(tensor, `${where} > initializer ${quoteName(tensor.name)}`, walk)
  graph.sparseInitializer?.forEach((sparse, i) => {
    checkSparse(sparse, `${where} > sparse_initializer ${i}`, walk)
  })
  for (const value of [...(graph.input ?? []), ...(graph.output ?? [])])
    if (!value.name) throw invalid(`A graph input or output in ${where} has no name.`)
  walkNodes(graph.node ?? [], where, depth, walk)
}

function decodeModel(bytes: Uint8Array): onnx.ModelProto {
  if (bytes.length === 0) throw invalid('The model file is empty.')
  const head = new TextDecoder().decode(bytes.subarray(0, 64))
  if (head.startsWith('version https://git-lfs'))
    throw invalid('The file is a Git LFS pointer, not an ONNX model.', [
      'Fetch the real file (git lfs pull) and try again.',
    ])
  try {
    return onnxSchema.ModelProto.decode(bytes)
  } catch (cause) {
    throw new BaseError(
      'MODEL_INVALID',
      'The file is not a valid ONNX model (protobuf decoding failed).',
      {
        metaMessages: [
          'Expected a serialized onnx.ModelProto (.onnx). Check that the file is complete (not truncated) and really is ONNX.',
        ],
        details: firstLine(cause),
        cause,
      },
    )
  }
}

function readOpsets(model: onnx.ModelProto, irVersion: number): Record<string, number> {
  const opsets: Record<string, number> = {}
  for (const entry of model.opsetImport ?? []) {
    const domain = entry.domain ?? ''
    const version = longToNumber(entry.version as LongLike)
    if (!domainPattern.test(domain) || version === undefined || version < 1 || version > 10_000)
      throw invalid('The model imports an opset with an invalid domain or version.', [
        `Found domain ${JSON.stringify(domain.slice(0, 64))} version ${String(version)}.`,
      ])
    const key = normalizeDomain(domain)
    if (key in opsets) throw invalid(`The model imports the opset of domain "${key}" twice.`)
    opsets[key] = version
  }
  if (irVersion >= 3 && Object.keys(opsets).length === 0)
    throw invalid('The model imports no operator set (opset_import is empty).', [
      'Every ONNX model with ir_version >= 3 declares the opsets it uses; the file is probably not ONNX.',
    ])
  return opsets
}

/**
 * Reads what an ONNX model declares (IR version, opsets, operators, inputs, outputs, external
 * data) without running it. Throws `MODEL_TOO_LARGE` before parsing a file over `maxModelBytes`
 * and `MODEL_INVALID` for anything that is not a structurally sound `ModelProto` (random bytes,
 * truncated files, LFS pointers, a missing graph). It does not judge whether Verity can run the
 * model: {@link validateOnnx} does.
 *
 * Inputs that are also initializers are not model inputs. Dynamic dimensions become names:
 * `dim_param` sanitized to the manifest pattern, or `<input>_dim<i>` when there is none.
 *
 * @example
 * ```ts
 * const info = inspectOnnx(readFileSync('mnist-8.onnx'))
 * info.inputs // [{ name: 'Input3', dtype: 'float32', shape: [1, 1, 28, 28] }]
 * ```
 */
export function inspectOnnx(bytes: Uint8Array, options: Partial<OnnxLimits> = {}): OnnxInfo {
  const limits = resolveOnnxLimits(options)
  if (!(bytes instanceof Uint8Array))
    throw new BaseError('INVALID_ARGUMENT', 'inspectOnnx expects the model file as a Uint8Array.')
  if (bytes.length > limits.maxModelBytes)
    throw new BaseError(
      'MODEL_TOO_LARGE',
      `The model file is ${bytes.length} bytes; the limit is ${limits.maxModelBytes} bytes.`,
      { metaMessages: ['Raise maxModelBytes if this model is expected to be this large.'] },
    )
  const model = decodeModel(bytes)
  const irVersion = longToNumber(model.irVersion as LongLike) ?? -1
  if (irVersion < 1 || irVersion > maxIrVersion)
    throw invalid(`The model has ir_version ${irVersion}; expected 1 to ${maxIrVersion}.`, [
      'A valid ONNX file always sets ir_version; the file is probably not ONNX or is corrupted.',
    ])
  const graph = model.graph
  if (!graph) throw invalid('The model has no graph.', ['The file is probably not an ONNX model.'])
  const opsets = readOpsets(model, irVersion)

  const walk: Walk = {
    operators: new Set(),
    externalData: [],
    functions: new Map(),
    expanded: new Set(),
  }
  for (const fn of model.functions ?? [])
    if (fn.name) walk.functions.set(`${normalizeDomain(fn.domain)}:${fn.name}`, fn)
  walkGraph(graph, 'graph', 0, walk)
  // Functions the graph never calls do not run, but their tensors are still scanned.
  const unused: Walk = { ...walk, operators: new Set() }
  for (const [key, fn] of walk.functions)
    if (!walk.expanded.has(key)) walkNodes(fn.node ?? [], `function ${quoteName(key)}`, 1, unused)
  model.trainingInfo?.forEach((training, i) => {
    if (training.initialization)
      walkGraph(training.initialization, `training_info[${i}].initialization`, 1, walk)
    if (training.algorithm) walkGraph(training.algorithm, `training_info[${i}].algorithm`, 1, walk)
  })

  const initializerNames = new Set<string>()
  for (const tensor of graph.initializer ?? []) initializerNames.add(tensor.name ?? '')
  for (const sparse of graph.sparseInitializer ?? [])
    initializerNames.add(sparse.values?.name ?? '')

  const inputs: TensorSpec[] = []
  const unsupportedInputs: OnnxInfo['unsupportedInputs'] = []
  for (const value of graph.input ?? []) {
    if (initializerNames.has(value.name ?? '')) continue
    if (!value.type)
      throw invalid(`Graph input ${quoteName(value.name)} has no type.`, [
        'Top-level graph inputs must declare their type.',
      ])
    const result = tensorSpecOf(value)
    if ('spec' in result) inputs.push(result.spec)
    else unsupportedInputs.push({ name: value.name ?? '', reason: result.reason })
  }
  const outputs: TensorSpec[] = []
  const skippedOutputs: string[] = []
  for (const value of graph.output ?? []) {
    if (!value.type)
      throw invalid(`Graph output ${quoteName(value.name)} has no type.`, [
        'Top-level graph outputs must declare their type.',
      ])
    const result = tensorSpecOf(value)
    if ('spec' in result) outputs.push(result.spec)
    else skippedOutputs.push(value.name ?? '')
  }

  const producer = [model.producerName, model.producerVersion]
    .filter((part) => part)
    .join(' ')
    .slice(0, 256)
  return {
    irVersion,
    opsets,
    producer,
    operators: [...walk.operators].sort(),
    inputs,
    outputs,
    skippedOutputs,
    unsupportedInputs,
    externalData: walk.externalData,
  }
}
