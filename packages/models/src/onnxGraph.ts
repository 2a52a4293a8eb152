import onnxProto from 'onnx-proto'
import packageJson from '../package.json' with { type: 'json' }

const { onnx } = onnxProto

/**
 * Fixed producer fields written into every exported model (no timestamps, no host names).
 *
 * @example
 * ```ts
 * onnxProducer // { name: 'verity-models', version: '0.1.0' }
 * ```
 */
export const onnxProducer = { name: 'verity-models', version: packageJson.version } as const

/**
 * IR version 7 (ONNX 1.8) with the default-domain opset 13.
 *
 * @example
 * ```ts
 * onnxVersions // { irVersion: 7, opset: 13 }
 * ```
 */
export const onnxVersions = { irVersion: 7, opset: 13 } as const

/** Free text and key/value metadata stored in the model file. */
export type OnnxExportOptions = {
  /** Stored as the model's `doc_string` (name the recipe and its seed). */
  docString: string
  /** Stored as `metadata_props`, in the key order given. */
  metadata?: Readonly<Record<string, string>>
}

/**
 * ONNX `TensorProto.DataType` codes used by the CNN exports.
 *
 * @example
 * ```ts
 * onnxTensorType.uint8 // 2
 * ```
 */
export const onnxTensorType = { float: 1, uint8: 2, int8: 3, int32: 6 } as const

/** A tensor element type the CNN exports write. */
export type OnnxTensorType = (typeof onnxTensorType)[keyof typeof onnxTensorType]

type TypedValues = Float64Array | Float32Array | Int8Array | Int32Array | Uint8Array

// AttributeProto.AttributeType values
const ATTRIBUTE_INT = 2
const ATTRIBUTE_INTS = 7

/** Little-endian raw bytes of a tensor, independent of the host's byte order. */
function rawData(dataType: OnnxTensorType, values: TypedValues): Uint8Array {
  if (dataType === onnxTensorType.int8 || dataType === onnxTensorType.uint8)
    return Uint8Array.from(values as Int8Array, (v) => v & 0xff)
  const bytes = new Uint8Array(values.length * 4)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < values.length; i++)
    if (dataType === onnxTensorType.float) view.setFloat32(i * 4, values[i]!, true)
    else view.setInt32(i * 4, values[i]!, true)
  return bytes
}

/**
 * A constant tensor (`initializer`) of the graph, stored as little-endian `raw_data`.
 *
 * @example
 * ```ts
 * onnxInitializer('conv.bias', onnxTensorType.int32, [4, 1, 1], Int32Array.of(1, 2, 3, 4))
 * ```
 */
export function onnxInitializer(
  name: string,
  dataType: OnnxTensorType,
  dims: readonly number[],
  values: TypedValues,
): onnxProto.onnx.TensorProto {
  return onnx.TensorProto.create({
    name,
    dataType,
    dims: [...dims],
    rawData: rawData(dataType, values),
  })
}

/**
 * A graph input or output declaration; string dimensions are symbolic (`'batch'`).
 *
 * @example
 * ```ts
 * onnxValueInfo('image', onnxTensorType.uint8, ['batch', 1, 28, 28])
 * ```
 */
export function onnxValueInfo(
  name: string,
  elemType: OnnxTensorType,
  dims: readonly (number | string)[],
): onnxProto.onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType,
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((dim) =>
            onnx.TensorShapeProto.Dimension.create(
              typeof dim === 'string' ? { dimParam: dim } : { dimValue: dim },
            ),
          ),
        }),
      }),
    }),
  })
}

/**
 * A graph node; integer attributes become `INT`, integer arrays `INTS`, in the key order given.
 *
 * @example
 * ```ts
 * onnxNode('pool', 'MaxPool', ['x'], ['y'], { kernel_shape: [2, 2], strides: [2, 2] })
 * ```
 */
export function onnxNode(
  name: string,
  opType: string,
  input: readonly string[],
  output: readonly string[],
  attributes: Readonly<Record<string, number | readonly number[]>> = {},
): onnxProto.onnx.NodeProto {
  return onnx.NodeProto.create({
    name,
    opType,
    input: [...input],
    output: [...output],
    attribute: Object.entries(attributes).map(([attributeName, value]) =>
      typeof value === 'number'
        ? onnx.AttributeProto.create({ name: attributeName, type: ATTRIBUTE_INT, i: value })
        : onnx.AttributeProto.create({
            name: attributeName,
            type: ATTRIBUTE_INTS,
            ints: [...value],
          }),
    ),
  })
}

/**
 * Serializes a graph as a model with Verity's fixed producer, IR version and opset (the same as
 * the MLP exports: no timestamps, so the bytes depend only on the graph and the options).
 *
 * @example
 * ```ts
 * const bytes = encodeOnnxModel({ name: 'g', node, initializer, input, output }, { docString: 'x' })
 * ```
 */
export function encodeOnnxModel(
  graph: onnxProto.onnx.IGraphProto,
  options: OnnxExportOptions,
): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: onnxVersions.irVersion,
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: onnxVersions.opset })],
    producerName: onnxProducer.name,
    producerVersion: onnxProducer.version,
    modelVersion: 1,
    docString: options.docString,
    graph: onnx.GraphProto.create(graph),
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) =>
      onnx.StringStringEntryProto.create({ key, value }),
    ),
  })
  return new Uint8Array(onnx.ModelProto.encode(model).finish())
}
