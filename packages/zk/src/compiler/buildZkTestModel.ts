import { dtypeTags } from '@verity/protocol'
import onnxProto from 'onnx-proto'

const { onnx } = onnxProto

/** Element types {@link buildZkTestModel} writes. */
export type ZkTestElementType = 'float32' | 'uint8' | 'int8' | 'int32' | 'int64'

/** A graph input or output: name, element type and shape (numbers, or names for dynamic dims). */
export type ZkTestValue = { name: string; type: ZkTestElementType; shape: (number | string)[] }

/** A constant tensor of the model. */
export type ZkTestInitializer = {
  name: string
  type: ZkTestElementType
  dims: number[]
  values: ArrayLike<number>
}

/** An attribute value: integer, float, integer list or string. */
export type ZkTestAttribute = number | number[] | string | { float: number }

/** One node of the graph. */
export type ZkTestNode = {
  op: string
  name?: string
  domain?: string
  inputs: string[]
  outputs: string[]
  attributes?: Record<string, ZkTestAttribute>
}

/** A whole model. */
export type BuildZkTestModelParameters = {
  nodes: ZkTestNode[]
  inputs: ZkTestValue[]
  outputs: ZkTestValue[]
  initializers?: ZkTestInitializer[]
  /** Default `{ '': 13 }`. */
  opsets?: Record<string, number>
}

function valueInfo(value: ZkTestValue): onnxProto.onnx.IValueInfoProto {
  return {
    name: value.name,
    type: {
      tensorType: {
        elemType: dtypeTags[value.type],
        shape: {
          dim: value.shape.map((dim) =>
            typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim },
          ),
        },
      },
    },
  }
}

function rawData(type: ZkTestElementType, values: ArrayLike<number>): Uint8Array {
  const width = type === 'uint8' || type === 'int8' ? 1 : type === 'int64' ? 8 : 4
  const bytes = new Uint8Array(values.length * width)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!
    if (type === 'float32') view.setFloat32(i * 4, value, true)
    else if (type === 'int32') view.setInt32(i * 4, value, true)
    else if (type === 'int64') view.setBigInt64(i * 8, BigInt(value), true)
    else if (type === 'int8') view.setInt8(i, value)
    else view.setUint8(i, value)
  }
  return bytes
}

function attribute(name: string, value: ZkTestAttribute): onnxProto.onnx.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto
  if (typeof value === 'number') return { name, type: AttributeType.INT, i: value }
  if (typeof value === 'string')
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) }
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value }
  return { name, type: AttributeType.FLOAT, f: value.float }
}

/**
 * Serializes a small ONNX model built in code (raw little-endian initializers), for tests of the
 * ZK compiler that need graphs the shared assets do not have: tiny CNNs, unsupported operators,
 * dynamic shapes.
 *
 * @example
 * ```ts
 * const bytes = buildZkTestModel({
 *   nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
 *   inputs: [{ name: 'x', type: 'float32', shape: [1, 4] }],
 *   outputs: [{ name: 'y', type: 'float32', shape: [1, 4] }],
 * })
 * ```
 */
export function buildZkTestModel(parameters: BuildZkTestModelParameters): Uint8Array {
  const opsets = parameters.opsets ?? { '': 13 }
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'verity-zk-tests',
    opsetImport: Object.entries(opsets).map(([domain, version]) => ({ domain, version })),
    graph: {
      name: 'test',
      node: parameters.nodes.map((node, index) => ({
        name: node.name ?? `n${index}`,
        opType: node.op,
        domain: node.domain ?? '',
        input: node.inputs,
        output: node.outputs,
        attribute: Object.entries(node.attributes ?? {}).map(([name, value]) =>
          attribute(name, value),
        ),
      })),
      input: parameters.inputs.map(valueInfo),
      output: parameters.outputs.map(valueInfo),
      initializer: (parameters.initializers ?? []).map((init) => ({
        name: init.name,
        dims: init.dims,
        dataType: dtypeTags[init.type],
        rawData: rawData(init.type, init.values),
      })),
    },
  })
  return onnx.ModelProto.encode(model).finish()
}
