/**
 * Builds small ONNX files in memory with the generated protobuf classes. Tests use it to craft
 * valid and hostile models (external data, subgraphs, odd types) without fixture files.
 */
import { type onnx, onnxSchema } from './onnxProto.ts'

/** A dimension: a size, a `dim_param` name, or `null` for an unnamed dynamic dimension. */
export type BuildDim = number | string | null

/**
 * A graph input/output declaration. `elemType` is the ONNX element type (1 = float, 7 = int64,
 * 8 = string, …); `shape: undefined` leaves the rank unknown; `type` overrides everything.
 */
export type BuildValue = {
  name: string
  elemType?: number
  shape?: readonly BuildDim[] | undefined
  type?: onnx.ITypeProto
}

/**
 * An ONNX `ValueInfoProto` for a tensor (or any type given explicitly).
 *
 * @example
 * ```ts
 * valueInfo({ name: 'x', elemType: 1, shape: ['batch', 3] })
 * ```
 */
export function valueInfo(value: BuildValue): onnx.IValueInfoProto {
  if (value.type) return { name: value.name, type: value.type }
  const tensorType: onnx.TypeProto.ITensor = { elemType: value.elemType ?? 1 }
  if (value.shape)
    tensorType.shape = {
      dim: value.shape.map((dim) =>
        dim === null ? {} : typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim },
      ),
    }
  return { name: value.name, type: { tensorType } }
}

export type BuildModelParameters = {
  irVersion?: number
  opsets?: Record<string, number>
  producerName?: string
  producerVersion?: string
  inputs?: readonly BuildValue[]
  outputs?: readonly BuildValue[]
  nodes?: readonly onnx.INodeProto[]
  initializers?: readonly onnx.ITensorProto[]
  functions?: readonly onnx.IFunctionProto[]
  /** Omit the graph entirely. */
  noGraph?: boolean
}

/**
 * A serialized `ModelProto`. Defaults: IR 8, opset 17 of the default domain, one float input `x`
 * [1, 4] and one float output `y` [1, 4] joined by a `Relu` node.
 *
 * @example
 * ```ts
 * const bytes = buildOnnxModel({ nodes: [{ opType: 'Abs', input: ['x'], output: ['y'] }] })
 * ```
 */
export function buildOnnxModel(parameters: BuildModelParameters = {}): Uint8Array {
  const inputs = parameters.inputs ?? [{ name: 'x', elemType: 1, shape: [1, 4] }]
  const outputs = parameters.outputs ?? [{ name: 'y', elemType: 1, shape: [1, 4] }]
  const model: onnx.IModelProto = {
    irVersion: parameters.irVersion ?? 8,
    producerName: parameters.producerName ?? 'verity-test',
    producerVersion: parameters.producerVersion ?? '1',
    opsetImport: Object.entries(parameters.opsets ?? { '': 17 }).map(([domain, version]) => ({
      domain,
      version,
    })),
    functions: [...(parameters.functions ?? [])],
  }
  if (!parameters.noGraph)
    model.graph = {
      name: 'test',
      node: [...(parameters.nodes ?? [{ opType: 'Relu', input: ['x'], output: ['y'] }])],
      initializer: [...(parameters.initializers ?? [])],
      input: inputs.map(valueInfo),
      output: outputs.map(valueInfo),
    }
  return onnxSchema.ModelProto.encode(onnxSchema.ModelProto.create(model)).finish()
}

/**
 * A float `TensorProto` whose data lives in an external file at `location`.
 *
 * @example
 * ```ts
 * externalTensor('w', '../../etc/passwd')
 * ```
 */
export function externalTensor(name: string, location: string): onnx.ITensorProto {
  return {
    name,
    dataType: 1,
    dims: [4],
    dataLocation: 1,
    externalData: [
      { key: 'location', value: location },
      { key: 'offset', value: '0' },
      { key: 'length', value: '16' },
    ],
  }
}

/**
 * A graph (for `If`/`Loop`/`Scan` attributes) with the given nodes and outputs.
 *
 * @example
 * ```ts
 * subgraph('then', [constantNode('c', externalTensor('c', '/etc/shadow'))], [{ name: 'c' }])
 * ```
 */
export function subgraph(
  name: string,
  nodes: readonly onnx.INodeProto[],
  outputs: readonly BuildValue[],
  inputs: readonly BuildValue[] = [],
): onnx.IGraphProto {
  return {
    name,
    node: [...nodes],
    input: inputs.map(valueInfo),
    output: outputs.map(valueInfo),
  }
}

/**
 * A `Constant` node whose `value` attribute is `tensor`.
 *
 * @example
 * ```ts
 * constantNode('c', { name: 'c', dataType: 1, dims: [1], floatData: [1] })
 * ```
 */
export function constantNode(output: string, tensor: onnx.ITensorProto): onnx.INodeProto {
  return {
    opType: 'Constant',
    name: output,
    output: [output],
    attribute: [{ name: 'value', type: 4, t: tensor }],
  }
}
