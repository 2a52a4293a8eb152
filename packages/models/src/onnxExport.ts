import onnxProto from 'onnx-proto'
import packageJson from '../package.json' with { type: 'json' }
import type { QuantizedMlp } from './quantize.ts'
import type { Mlp } from './train.ts'

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

// ONNX TensorProto.DataType values
const FLOAT = 1
const UINT8 = 2
const INT8 = 3
const INT32 = 6
// AttributeProto.AttributeType.INT
const ATTRIBUTE_INT = 2

type Dims = readonly (number | string)[]
type TypedValues = Float64Array | Float32Array | Int8Array | Int32Array | Uint8Array

/** Little-endian raw bytes of a tensor, independent of the host's byte order. */
function rawData(dataType: number, values: TypedValues): Uint8Array {
  if (dataType === INT8 || dataType === UINT8)
    return Uint8Array.from(values as Int8Array, (v) => v & 0xff)
  const bytes = new Uint8Array(values.length * 4)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < values.length; i++)
    if (dataType === FLOAT) view.setFloat32(i * 4, values[i]!, true)
    else view.setInt32(i * 4, values[i]!, true)
  return bytes
}

function initializer(name: string, dataType: number, dims: readonly number[], values: TypedValues) {
  return onnx.TensorProto.create({
    name,
    dataType,
    dims: [...dims],
    rawData: rawData(dataType, values),
  })
}

function valueInfo(name: string, elemType: number, dims: Dims) {
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

function node(
  name: string,
  opType: string,
  input: string[],
  output: string[],
  attributes: Readonly<Record<string, number>> = {},
) {
  return onnx.NodeProto.create({
    name,
    opType,
    input,
    output,
    attribute: Object.entries(attributes).map(([attributeName, i]) =>
      onnx.AttributeProto.create({ name: attributeName, type: ATTRIBUTE_INT, i }),
    ),
  })
}

function encodeModel(
  graph: ReturnType<typeof onnx.GraphProto.create>,
  options: OnnxExportOptions,
): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: onnxVersions.irVersion,
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: onnxVersions.opset })],
    producerName: onnxProducer.name,
    producerVersion: onnxProducer.version,
    modelVersion: 1,
    docString: options.docString,
    graph,
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) =>
      onnx.StringStringEntryProto.create({ key, value }),
    ),
  })
  return new Uint8Array(onnx.ModelProto.encode(model).finish())
}

/**
 * Serializes the float MLP as an ONNX model: `image` float32 `[batch, 1, 28, 28]` (pixels / 255)
 * → Flatten → Gemm → Relu → Gemm → `logits` float32 `[batch, 10]`. Weights are rounded to float32.
 * The bytes depend only on the model and the options.
 *
 * @example
 * ```ts
 * const bytes = exportFloatOnnx(model, { docString: 'digits MLP, recipe seed 1' })
 * ```
 */
export function exportFloatOnnx(model: Mlp, options: OnnxExportOptions): Uint8Array {
  const { inputSize, hiddenSize, outputSize } = model
  const graph = onnx.GraphProto.create({
    name: 'digits_mlp',
    node: [
      node('flatten', 'Flatten', ['image'], ['pixels'], { axis: 1 }),
      node('fc1', 'Gemm', ['pixels', 'fc1.weight', 'fc1.bias'], ['fc1_out']),
      node('relu1', 'Relu', ['fc1_out'], ['hidden']),
      node('fc2', 'Gemm', ['hidden', 'fc2.weight', 'fc2.bias'], ['logits']),
    ],
    initializer: [
      initializer('fc1.weight', FLOAT, [inputSize, hiddenSize], model.w1),
      initializer('fc1.bias', FLOAT, [hiddenSize], model.b1),
      initializer('fc2.weight', FLOAT, [hiddenSize, outputSize], model.w2),
      initializer('fc2.bias', FLOAT, [outputSize], model.b2),
    ],
    input: [valueInfo('image', FLOAT, ['batch', 1, 28, 28])],
    output: [valueInfo('logits', FLOAT, ['batch', outputSize])],
  })
  return encodeModel(graph, options)
}

/**
 * Serializes the integer MLP as an ONNX model that uses only exact integer operators:
 * `image` uint8 `[batch, 1, 28, 28]` (0..255) → Flatten → MatMulInteger → Add (bias) → Add
 * (rounding) → Div (power of two) → Clip [0, 255] → Cast uint8 → MatMulInteger → Add (bias) →
 * `logits` int32 `[batch, 10]`. It computes exactly {@link quantizedForward}.
 *
 * @example
 * ```ts
 * const bytes = exportInt8Onnx(quantized, { docString: 'digits MLP int8, recipe seed 1' })
 * ```
 */
export function exportInt8Onnx(model: QuantizedMlp, options: OnnxExportOptions): Uint8Array {
  const { inputSize, hiddenSize, outputSize } = model
  const graph = onnx.GraphProto.create({
    name: 'digits_mlp_int8',
    node: [
      node('flatten', 'Flatten', ['image'], ['pixels'], { axis: 1 }),
      node('fc1', 'MatMulInteger', ['pixels', 'fc1.weight'], ['fc1_product']),
      node('fc1_bias', 'Add', ['fc1_product', 'fc1.bias'], ['fc1_out']),
      node('requant1_round', 'Add', ['fc1_out', 'requant1.round'], ['requant1_rounded']),
      node('requant1_shift', 'Div', ['requant1_rounded', 'requant1.divisor'], ['requant1_scaled']),
      node('relu1', 'Clip', ['requant1_scaled', 'clip.min', 'clip.max'], ['hidden_int32']),
      node('hidden_cast', 'Cast', ['hidden_int32'], ['hidden'], { to: UINT8 }),
      node('fc2', 'MatMulInteger', ['hidden', 'fc2.weight'], ['fc2_product']),
      node('fc2_bias', 'Add', ['fc2_product', 'fc2.bias'], ['logits']),
    ],
    initializer: [
      initializer('fc1.weight', INT8, [inputSize, hiddenSize], model.w1),
      initializer('fc1.bias', INT32, [hiddenSize], model.b1),
      initializer('requant1.round', INT32, [hiddenSize], model.round1),
      initializer('requant1.divisor', INT32, [hiddenSize], model.divisor1),
      initializer('clip.min', INT32, [], Int32Array.of(0)),
      initializer('clip.max', INT32, [], Int32Array.of(255)),
      initializer('fc2.weight', INT8, [hiddenSize, outputSize], model.w2),
      initializer('fc2.bias', INT32, [outputSize], model.b2),
    ],
    input: [valueInfo('image', UINT8, ['batch', 1, 28, 28])],
    output: [valueInfo('logits', INT32, ['batch', outputSize])],
  })
  return encodeModel(graph, options)
}
