import { dtypeTags } from '@verity/protocol'
import onnxProto from 'onnx-proto'

const { onnx } = onnxProto

/**
 * ONNX `TensorProto.DataType` numbers: protocol's dtype tags are exactly these.
 *
 * @example
 * ```ts
 * onnxElementType.float32 // 1
 * ```
 */
export const onnxElementType = dtypeTags

/** The element type names {@link onnxElementType} knows. */
export type OnnxElementType = keyof typeof onnxElementType

/** A graph input or output: name, element type and shape (numbers, or names for dynamic dims). */
export type OnnxValueSpec = { name: string; type: OnnxElementType; shape?: (number | string)[] }

/** A constant tensor stored in the model (float32, int32 or int64 values). */
export type OnnxInitializerSpec = {
  name: string
  type: 'float32' | 'int32' | 'int64' | 'int8' | 'uint8'
  dims: number[]
  values: number[]
}

/** One node: operator, domain (default `ai.onnx`), input and output names, attributes. */
export type OnnxNodeSpec = {
  op: string
  domain?: string
  inputs: string[]
  outputs: string[]
  attributes?: onnxProto.onnx.IAttributeProto[]
}

/** A whole model: nodes, graph inputs and outputs, initializers and opset imports. */
export type BuildOnnxModelParameters = {
  nodes: OnnxNodeSpec[]
  inputs: OnnxValueSpec[]
  outputs: OnnxValueSpec[]
  initializers?: OnnxInitializerSpec[]
  /** Default `{ '': 21 }`; add `com.microsoft: 1` for contrib operators. */
  opsets?: Record<string, number>
}

function valueInfo(spec: OnnxValueSpec): onnxProto.onnx.IValueInfoProto {
  return {
    name: spec.name,
    type: {
      tensorType: {
        elemType: onnxElementType[spec.type],
        ...(spec.shape
          ? {
              shape: {
                dim: spec.shape.map((dim) =>
                  typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim },
                ),
              },
            }
          : {}),
      },
    },
  }
}

function initializer(spec: OnnxInitializerSpec): onnxProto.onnx.ITensorProto {
  const base = { name: spec.name, dims: spec.dims, dataType: onnxElementType[spec.type] }
  if (spec.type === 'float32') return { ...base, floatData: spec.values }
  if (spec.type === 'int64') return { ...base, int64Data: spec.values }
  return { ...base, int32Data: spec.values }
}

/**
 * Serializes a small ONNX model (IR version 10) built in code, for tests that need a graph the
 * shared assets do not have (bool/int64/float16 outputs, a failing Reshape, one-node operator
 * probes).
 *
 * @example
 * ```ts
 * const bytes = buildOnnxModel({
 *   nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
 *   inputs: [{ name: 'x', type: 'bool', shape: [2] }],
 *   outputs: [{ name: 'y', type: 'bool', shape: [2] }],
 * })
 * ```
 */
export function buildOnnxModel(parameters: BuildOnnxModelParameters): Uint8Array {
  const opsets = parameters.opsets ?? { '': 21 }
  const model = onnx.ModelProto.create({
    irVersion: 10,
    producerName: 'verity-engine-tests',
    opsetImport: Object.entries(opsets).map(([domain, version]) => ({ domain, version })),
    graph: {
      name: 'test',
      node: parameters.nodes.map((node, index) => ({
        name: `n${index}`,
        opType: node.op,
        domain: node.domain ?? '',
        input: node.inputs,
        output: node.outputs,
        attribute: node.attributes ?? [],
      })),
      input: parameters.inputs.map(valueInfo),
      output: parameters.outputs.map(valueInfo),
      initializer: (parameters.initializers ?? []).map(initializer),
    },
  })
  return onnx.ModelProto.encode(model).finish()
}
