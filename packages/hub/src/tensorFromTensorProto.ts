import {
  allocTensorData,
  assertTensor,
  BaseError,
  type Dtype,
  dtypeByteSize,
  type Tensor,
  type TensorData,
  tensorLimits,
} from '@verity/protocol'
import {
  dtypeFromOnnx,
  firstLine,
  type LongLike,
  longToBigInt,
  type onnx,
  onnxSchema,
  onnxTypeName,
} from './onnxProto.ts'

function encodingError(message: string, hints: string[] = []): BaseError {
  return new BaseError('TENSOR_ENCODING_INVALID', message, { metaMessages: hints })
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Copies little-endian `raw_data` into a fresh, aligned typed array. */
function fromRawData(dtype: Dtype, size: number, raw: Uint8Array, name: string): TensorData {
  const width = dtypeByteSize(dtype)
  if (raw.length !== size * width)
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `Tensor "${name}" has ${raw.length} bytes of raw_data; its ${dtype} shape needs ${size * width}.`,
    )
  const data = allocTensorData(dtype, size)
  const target = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  target.set(raw)
  if (!littleEndian && width > 1)
    for (let i = 0; i < target.length; i += width) target.subarray(i, i + width).reverse()
  return data
}

/** Which typed field of TensorProto carries each dtype when raw_data is absent (onnx.proto). */
function fromTypedField(dtype: Dtype, size: number, proto: onnx.TensorProto): TensorData {
  const name = proto.name
  const data = allocTensorData(dtype, size)
  const source: ArrayLike<number | LongLike> =
    dtype === 'float32'
      ? proto.floatData
      : dtype === 'float64'
        ? proto.doubleData
        : dtype === 'int64'
          ? proto.int64Data
          : dtype === 'uint32' || dtype === 'uint64'
            ? proto.uint64Data
            : proto.int32Data // int8/16/32, uint8/16, bool, float16 (raw bits)
  if (source.length !== size)
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `Tensor "${name}" holds ${source.length} elements but its shape needs ${size}.`,
    )
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    const unsigned = data instanceof BigUint64Array
    for (let i = 0; i < size; i++) data[i] = longToBigInt(source[i] as LongLike, unsigned)
  } else if (dtype === 'uint32') {
    for (let i = 0; i < size; i++) data[i] = Number(longToBigInt(source[i] as LongLike, true))
  } else {
    for (let i = 0; i < size; i++) data[i] = source[i] as number
  }
  return data
}

/**
 * Decodes a serialized ONNX `TensorProto` (a `.pb` file of the ONNX backend test data, for
 * example) into a Verity tensor. Reads `raw_data` (little-endian) or the typed `*_data` fields.
 * Throws `TENSOR_ENCODING_INVALID` on malformed protobuf or unknown layout,
 * `TENSOR_DTYPE_UNSUPPORTED` for string/complex/bfloat16 tensors, `TENSOR_SHAPE_MISMATCH` when the
 * element count does not match the dims, and `MODEL_EXTERNAL_DATA` for external tensors (never
 * read from disk).
 *
 * @example
 * ```ts
 * const { name, tensor } = tensorFromTensorProto(readFileSync('test_data_set_0/input_0.pb'))
 * ```
 */
export function tensorFromTensorProto(bytes: Uint8Array): { name: string; tensor: Tensor } {
  let proto: onnx.TensorProto
  try {
    proto = onnxSchema.TensorProto.decode(bytes)
  } catch (cause) {
    throw new BaseError('TENSOR_ENCODING_INVALID', 'The bytes are not an ONNX TensorProto.', {
      details: firstLine(cause),
      cause,
    })
  }
  const name = proto.name ?? ''
  if (proto.dataLocation === 1 || (proto.externalData?.length ?? 0) > 0)
    throw new BaseError(
      'MODEL_EXTERNAL_DATA',
      `Tensor "${name}" is stored in an external file; only self-contained tensors are read.`,
    )
  if (proto.segment)
    throw encodingError(
      `Tensor "${name}" is one segment of a larger tensor; only whole tensors can be read.`,
    )
  if (!proto.dataType)
    throw encodingError(`Tensor "${name}" has no data_type: the bytes are not an ONNX TensorProto.`)
  const dtype = dtypeFromOnnx(proto.dataType)
  if (!dtype)
    throw new BaseError(
      'TENSOR_DTYPE_UNSUPPORTED',
      `Tensor "${name}" has element type ${onnxTypeName(proto.dataType)}, which Verity tensors cannot hold.`,
    )
  const dims = proto.dims ?? []
  if (dims.length > tensorLimits.maxRank)
    throw encodingError(
      `Tensor "${name}" has rank ${dims.length}; at most ${tensorLimits.maxRank} is supported.`,
    )
  const shape = dims.map((dim) => {
    const value = longToBigInt(dim as LongLike)
    if (value < 0n || value > BigInt(tensorLimits.maxDim))
      throw encodingError(`Tensor "${name}" has dimension ${value}; expected 0 to 2^32-1.`)
    return Number(value)
  })
  let size = 1
  for (const dim of shape) size *= dim
  if (!Number.isSafeInteger(size) || size * dtypeByteSize(dtype) > bytes.length * 8 + 64)
    throw encodingError(
      `Tensor "${name}" has shape [${shape.join(',')}], far more elements than the bytes can hold.`,
    )
  const raw = proto.rawData
  const data =
    raw && raw.length > 0 ? fromRawData(dtype, size, raw, name) : fromTypedField(dtype, size, proto)
  const tensor: Tensor = { dtype, shape, data }
  assertTensor(tensor, `Tensor "${name}"`)
  return { name, tensor }
}
