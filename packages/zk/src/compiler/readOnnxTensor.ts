import { BaseError } from '@verity/protocol'
import type { onnx } from 'onnx-proto'

/** A protobuf 64-bit integer as protobufjs hands it out (a `Long` object or a number). */
type LongLike = number | { low: number; high: number; unsigned?: boolean }

/**
 * A protobuf int64 as a number; `undefined` when it is not a safe integer.
 *
 * @example
 * ```ts
 * onnxIntToNumber({ low: 3, high: 0 }) // 3
 * ```
 */
export function onnxIntToNumber(value: LongLike | null | undefined): number | undefined {
  if (value === null || value === undefined) return 0
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined
  const big = (BigInt(value.high) << 32n) | BigInt(value.low >>> 0)
  const signed = value.unsigned ? BigInt.asUintN(64, big) : BigInt.asIntN(64, big)
  return signed > BigInt(Number.MAX_SAFE_INTEGER) || signed < BigInt(Number.MIN_SAFE_INTEGER)
    ? undefined
    : Number(signed)
}

/** A constant tensor of the model, values widened to float64 (exact for ≤ 53-bit integers). */
export type OnnxConstant = {
  /** ONNX `TensorProto.DataType` (1 float, 2 uint8, 3 int8, 6 int32, 7 int64, …). */
  dataType: number
  dims: number[]
  data: Float64Array
}

const byteWidth: Readonly<Record<number, number>> = {
  1: 4, // float
  2: 1, // uint8
  3: 1, // int8
  4: 2, // uint16
  5: 2, // int16
  6: 4, // int32
  7: 8, // int64
  9: 1, // bool
  11: 8, // double
  12: 4, // uint32
  13: 8, // uint64
}

function invalid(name: string, message: string): BaseError {
  return new BaseError('MODEL_INVALID', `Constant tensor "${name.slice(0, 80)}": ${message}`, {
    metaMessages: [
      'Re-export the model; the ZK compiler reads only well-formed, self-contained tensors.',
    ],
  })
}

function readRaw(dataType: number, raw: Uint8Array, size: number, name: string): Float64Array {
  const width = byteWidth[dataType]!
  if (raw.length !== size * width)
    throw invalid(name, `raw_data holds ${raw.length} bytes; its shape needs ${size * width}.`)
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
  const data = new Float64Array(size)
  for (let i = 0; i < size; i++) {
    const at = i * width
    switch (dataType) {
      case 1:
        data[i] = view.getFloat32(at, true)
        break
      case 2:
      case 9:
        data[i] = view.getUint8(at)
        break
      case 3:
        data[i] = view.getInt8(at)
        break
      case 4:
        data[i] = view.getUint16(at, true)
        break
      case 5:
        data[i] = view.getInt16(at, true)
        break
      case 6:
        data[i] = view.getInt32(at, true)
        break
      case 12:
        data[i] = view.getUint32(at, true)
        break
      case 11:
        data[i] = view.getFloat64(at, true)
        break
      default: {
        const value = dataType === 7 ? view.getBigInt64(at, true) : view.getBigUint64(at, true)
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER))
          throw invalid(name, `element ${i} (${value}) is not a safe integer.`)
        data[i] = Number(value)
      }
    }
  }
  return data
}

function readTyped(
  tensor: onnx.ITensorProto,
  dataType: number,
  size: number,
  name: string,
): Float64Array {
  const source: ArrayLike<number | LongLike> =
    dataType === 1
      ? (tensor.floatData ?? [])
      : dataType === 11
        ? (tensor.doubleData ?? [])
        : dataType === 7
          ? (tensor.int64Data ?? [])
          : dataType === 12 || dataType === 13
            ? (tensor.uint64Data ?? [])
            : (tensor.int32Data ?? [])
  if (source.length !== size)
    throw invalid(name, `holds ${source.length} elements; its shape needs ${size}.`)
  const data = new Float64Array(size)
  for (let i = 0; i < size; i++) {
    const item = source[i]!
    const value = typeof item === 'number' ? item : onnxIntToNumber(item)
    if (value === undefined) throw invalid(name, `element ${i} is not a safe integer.`)
    data[i] = dataType === 3 ? (value << 24) >> 24 : dataType === 2 ? value & 0xff : value
  }
  return data
}

/**
 * Decodes an ONNX `TensorProto` (initializer or `Constant` value) into float64 values, checking
 * its dims against `maxElements` before allocating. Throws `MODEL_INVALID` (malformed),
 * `MODEL_EXTERNAL_DATA` (stored outside the file), `ZK_TENSOR_TOO_LARGE` or
 * `TENSOR_DTYPE_UNSUPPORTED` (strings, float16, …).
 *
 * @example
 * ```ts
 * const { dims, data } = readOnnxTensor(graph.initializer[0]!, 1 << 24)
 * ```
 */
export function readOnnxTensor(tensor: onnx.ITensorProto, maxElements: number): OnnxConstant {
  const name = tensor.name ?? ''
  if (tensor.dataLocation === 1 || (tensor.externalData?.length ?? 0) > 0)
    throw new BaseError(
      'MODEL_EXTERNAL_DATA',
      `Constant tensor "${name.slice(0, 80)}" is stored in an external file; the ZK compiler reads only self-contained models.`,
      { metaMessages: ['Save the model with all tensors inside the .onnx file.'] },
    )
  const dataType = tensor.dataType ?? 0
  if (byteWidth[dataType] === undefined)
    throw new BaseError(
      'TENSOR_DTYPE_UNSUPPORTED',
      `Constant tensor "${name.slice(0, 80)}" has ONNX element type ${dataType}; the ZK compiler reads float, double and integer tensors.`,
    )
  const dims: number[] = []
  let size = 1
  for (const dim of tensor.dims ?? []) {
    const value = onnxIntToNumber(dim as LongLike)
    if (value === undefined || value < 0)
      throw invalid(name, `dimension ${String(dim)} is invalid.`)
    dims.push(value)
    size *= value
  }
  if (dims.length > 8) throw invalid(name, `rank ${dims.length} is above 8.`)
  if (size > maxElements)
    throw new BaseError(
      'ZK_TENSOR_TOO_LARGE',
      `Constant tensor "${name.slice(0, 80)}" has ${size} elements; the ZK compiler accepts at most ${maxElements}.`,
      {
        metaMessages: [
          'Models proven in a circuit must be small: every weight is a circuit constant.',
        ],
      },
    )
  const raw = tensor.rawData
  const data =
    raw && raw.length > 0
      ? readRaw(dataType, raw, size, name)
      : readTyped(tensor, dataType, size, name)
  return { dataType, dims, data }
}
