import { BaseError } from './errors.ts'
import { type Hash, keccak } from './hash.ts'

/**
 * Tensor element types. The numeric tags are ONNX's `TensorProto.DataType` values, which makes the
 * binary encoding self-describing for anyone who knows ONNX.
 */
export const dtypeTags = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
} as const

export type Dtype = keyof typeof dtypeTags
export const dtypes = Object.keys(dtypeTags) as Dtype[]

/** Typed array holding a tensor's elements (float16 holds raw IEEE half bits, bool holds 0/1). */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array

/** A dense tensor: element type, shape and row-major elements. */
export type Tensor = {
  readonly dtype: Dtype
  readonly shape: readonly number[]
  readonly data: TensorData
}

/** Named tensors, the inputs or the outputs of one model call. */
export type NamedTensors = Readonly<Record<string, Tensor>>

/** Hard limits that apply to every tensor Verity encodes or decodes. */
export const tensorLimits = {
  maxRank: 8,
  maxDim: 0xffff_ffff,
  maxTensors: 64,
  maxNameBytes: 256,
} as const

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.hasOwn(dtypeTags, value)
}

export function dtypeByteSize(dtype: Dtype): number {
  return arrayClass[dtype].BYTES_PER_ELEMENT
}

/** Number of elements of a shape (1 for a scalar). */
export function shapeSize(shape: readonly number[]): number {
  let size = 1
  for (const dim of shape) size *= dim
  return size
}

/** The typed array class holding each dtype's elements. */
const arrayClass = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  float16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
} as const satisfies Record<Dtype, unknown>

function arrayFor(
  dtype: Dtype,
  buffer: ArrayBuffer,
  byteOffset: number,
  length: number,
): TensorData {
  return new arrayClass[dtype](buffer, byteOffset, length)
}

/** An all-zero typed array of the right class for a dtype. */
export function allocTensorData(dtype: Dtype, length: number): TensorData {
  return arrayFor(dtype, new ArrayBuffer(length * dtypeByteSize(dtype)), 0, length)
}

function dataMatchesDtype(dtype: Dtype, data: TensorData): boolean {
  return data instanceof arrayClass[dtype]
}

/**
 * Checks that a tensor is internally consistent (known dtype, sane shape, element count equals the
 * shape's size, typed array matches the dtype). Throws `TENSOR_INVALID` otherwise.
 */
export function assertTensor(tensor: Tensor, name = 'tensor'): void {
  if (!isDtype(tensor.dtype))
    throw new BaseError(
      'TENSOR_DTYPE_UNSUPPORTED',
      `${name} has dtype ${JSON.stringify(tensor.dtype)}; expected one of ${dtypes.join(', ')}.`,
    )
  if (!Array.isArray(tensor.shape) || tensor.shape.length > tensorLimits.maxRank)
    throw new BaseError(
      'TENSOR_INVALID',
      `${name} must have a shape of at most ${tensorLimits.maxRank} dimensions.`,
    )
  for (const dim of tensor.shape)
    if (!Number.isInteger(dim) || dim < 0 || dim > tensorLimits.maxDim)
      throw new BaseError(
        'TENSOR_INVALID',
        `${name} has dimension ${dim}; dimensions are integers in [0, 2^32).`,
      )
  if (!dataMatchesDtype(tensor.dtype, tensor.data))
    throw new BaseError(
      'TENSOR_INVALID',
      `${name} holds a ${tensor.data?.constructor?.name}, which does not fit dtype ${tensor.dtype}.`,
    )
  const size = shapeSize(tensor.shape)
  if (tensor.data.length !== size)
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `${name} has ${tensor.data.length} elements but shape [${tensor.shape.join(',')}] needs ${size}.`,
    )
  if (tensor.dtype === 'bool')
    for (const value of tensor.data as Uint8Array)
      if (value > 1)
        throw new BaseError('TENSOR_INVALID', `${name} is bool but holds the value ${value}.`)
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

function dataBytes(tensor: Tensor): Uint8Array {
  const { data } = tensor
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  if (littleEndian || data.BYTES_PER_ELEMENT === 1) return bytes
  const out = new Uint8Array(bytes.length)
  const width = data.BYTES_PER_ELEMENT
  for (let i = 0; i < bytes.length; i += width)
    for (let j = 0; j < width; j++) out[i + j] = bytes[i + width - 1 - j]!
  return out
}

function tensorEncodedLength(tensor: Tensor): number {
  return 2 + 4 * tensor.shape.length + tensor.data.byteLength
}

function writeTensor(tensor: Tensor, out: Uint8Array, view: DataView, offset: number): number {
  let at = offset
  view.setUint8(at++, dtypeTags[tensor.dtype])
  view.setUint8(at++, tensor.shape.length)
  for (const dim of tensor.shape) {
    view.setUint32(at, dim, true)
    at += 4
  }
  out.set(dataBytes(tensor), at)
  return at + tensor.data.byteLength
}

/**
 * Canonical binary encoding of one tensor: `u8 dtypeTag | u8 rank | rank × u32le dim | data`,
 * elements little-endian, no padding. The data length follows from dtype and shape.
 *
 * @example
 * ```ts
 * encodeTensor({ dtype: 'uint8', shape: [2], data: new Uint8Array([7, 9]) })
 * // Uint8Array [2, 1, 2, 0, 0, 0, 7, 9]
 * ```
 */
export function encodeTensor(tensor: Tensor): Uint8Array {
  assertTensor(tensor)
  const out = new Uint8Array(tensorEncodedLength(tensor))
  writeTensor(tensor, out, new DataView(out.buffer), 0)
  return out
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

/**
 * Canonical binary encoding of named tensors: `u32le count`, then for each tensor in ascending
 * UTF-8 byte order of its name: `u16le nameLength | name | encodeTensor(tensor)`.
 * Two clients holding the same tensors produce the same bytes, whatever their key order.
 *
 * @example
 * ```ts
 * const bytes = encodeTensors({ x: { dtype: 'float32', shape: [1], data: new Float32Array([1]) } })
 * ```
 */
export function encodeTensors(tensors: NamedTensors): Uint8Array {
  const encoder = new TextEncoder()
  const entries = Object.entries(tensors).map(([name, tensor]) => {
    assertTensor(tensor, `Tensor "${name}"`)
    const nameBytes = encoder.encode(name)
    if (nameBytes.length === 0 || nameBytes.length > tensorLimits.maxNameBytes)
      throw new BaseError(
        'TENSOR_INVALID',
        `Tensor name "${name}" must be 1 to ${tensorLimits.maxNameBytes} UTF-8 bytes.`,
      )
    return { nameBytes, tensor }
  })
  if (entries.length > tensorLimits.maxTensors)
    throw new BaseError(
      'TENSOR_INVALID',
      `${entries.length} tensors given; at most ${tensorLimits.maxTensors} are allowed.`,
    )
  entries.sort((a, b) => compareBytes(a.nameBytes, b.nameBytes))
  let length = 4
  for (const { nameBytes, tensor } of entries)
    length += 2 + nameBytes.length + tensorEncodedLength(tensor)
  const out = new Uint8Array(length)
  const view = new DataView(out.buffer)
  view.setUint32(0, entries.length, true)
  let at = 4
  for (const { nameBytes, tensor } of entries) {
    view.setUint16(at, nameBytes.length, true)
    out.set(nameBytes, at + 2)
    at = writeTensor(tensor, out, view, at + 2 + nameBytes.length)
  }
  return out
}

const dtypeByTag = new Map<number, Dtype>(
  Object.entries(dtypeTags).map(([dtype, tag]) => [tag, dtype as Dtype]),
)

function encodingError(message: string): BaseError {
  return new BaseError('TENSOR_ENCODING_INVALID', message)
}

function readTensor(bytes: Uint8Array, view: DataView, offset: number): [Tensor, number] {
  if (offset + 2 > bytes.length) throw encodingError('Tensor header is truncated.')
  const tag = view.getUint8(offset)
  const dtype = dtypeByTag.get(tag)
  if (!dtype) throw encodingError(`Unknown dtype tag ${tag}.`)
  const rank = view.getUint8(offset + 1)
  if (rank > tensorLimits.maxRank)
    throw encodingError(`Rank ${rank} exceeds the limit of ${tensorLimits.maxRank}.`)
  let at = offset + 2
  if (at + 4 * rank > bytes.length) throw encodingError('Tensor shape is truncated.')
  const shape: number[] = []
  for (let i = 0; i < rank; i++) {
    shape.push(view.getUint32(at, true))
    at += 4
  }
  const size = shapeSize(shape)
  const byteLength = size * dtypeByteSize(dtype)
  if (!Number.isSafeInteger(byteLength) || at + byteLength > bytes.length)
    throw encodingError(
      `Tensor data is truncated: shape [${shape.join(',')}] needs ${byteLength} bytes.`,
    )
  const copy = bytes.slice(at, at + byteLength)
  if (!littleEndian && dtypeByteSize(dtype) > 1) copy.reverse()
  const data = arrayFor(dtype, copy.buffer, 0, size)
  const tensor: Tensor = { dtype, shape, data }
  if (dtype === 'bool') assertTensor(tensor)
  return [tensor, at + byteLength]
}

/** Inverse of {@link encodeTensor}. Throws `TENSOR_ENCODING_INVALID` on malformed bytes. */
export function decodeTensor(bytes: Uint8Array): Tensor {
  const [tensor, end] = readTensor(
    bytes,
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    0,
  )
  if (end !== bytes.length)
    throw encodingError(`${bytes.length - end} trailing bytes after the tensor.`)
  return tensor
}

/** Inverse of {@link encodeTensors}. Rejects unsorted or duplicate names (non-canonical input). */
export function decodeTensors(bytes: Uint8Array): Record<string, Tensor> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes.length < 4) throw encodingError('Tensor list header is truncated.')
  const count = view.getUint32(0, true)
  if (count > tensorLimits.maxTensors)
    throw encodingError(
      `${count} tensors declared; at most ${tensorLimits.maxTensors} are allowed.`,
    )
  const decoder = new TextDecoder('utf-8', { fatal: true })
  const result: Record<string, Tensor> = {}
  let previous: Uint8Array | undefined
  let at = 4
  for (let i = 0; i < count; i++) {
    if (at + 2 > bytes.length) throw encodingError('Tensor name is truncated.')
    const nameLength = view.getUint16(at, true)
    const nameBytes = bytes.subarray(at + 2, at + 2 + nameLength)
    if (nameLength === 0 || nameBytes.length !== nameLength)
      throw encodingError('Tensor name is truncated.')
    if (previous && compareBytes(previous, nameBytes) >= 0)
      throw encodingError('Tensor names are not in canonical (sorted, unique) order.')
    previous = nameBytes
    let name: string
    try {
      name = decoder.decode(nameBytes)
    } catch (cause) {
      throw new BaseError('TENSOR_ENCODING_INVALID', 'Tensor name is not valid UTF-8.', { cause })
    }
    const [tensor, end] = readTensor(bytes, view, at + 2 + nameLength)
    result[name] = tensor
    at = end
  }
  if (at !== bytes.length)
    throw encodingError(`${bytes.length - at} trailing bytes after the tensors.`)
  return result
}

/**
 * `keccak256(encodeTensors(tensors))`: the `inputHash`/`outputHash` of a receipt.
 *
 * @example
 * ```ts
 * const inputHash = hashTensors({ x: { dtype: 'float32', shape: [1, 2], data: new Float32Array([1, 2]) } })
 * ```
 */
export function hashTensors(tensors: NamedTensors): Hash {
  return keccak(encodeTensors(tensors))
}
