import { BaseError } from '@verity/protocol'

/**
 * GGUF metadata value types and their numeric tags in the file (`gguf_type` in llama.cpp's
 * `gguf.h`, "GGUF" in ggml's `docs/gguf.md`).
 *
 * @example
 * ```ts
 * ggufValueTypes.uint32 // 4
 * ```
 */
export const ggufValueTypes = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const

/** A metadata value type other than `array` (arrays hold one of these). */
export type GgufScalarType = Exclude<keyof typeof ggufValueTypes, 'array'>

/** Numeric types whose values are JavaScript numbers. */
export type GgufNumberType =
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'uint32'
  | 'int32'
  | 'float32'
  | 'float64'

/** 64-bit integer types: a `bigint`, or a safe-integer `number`. */
export type GgufBigIntType = 'uint64' | 'int64'

/**
 * One metadata value with its explicit GGUF type (a JavaScript number alone cannot say whether it
 * is a `uint32` or a `float32`). Arrays hold values of one scalar type; nested arrays are not
 * supported.
 */
export type GgufValue =
  | { type: GgufNumberType; value: number }
  | { type: GgufBigIntType; value: bigint | number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: GgufNumberType; value: ArrayLike<number> }
  | { type: 'array'; itemType: GgufBigIntType; value: ArrayLike<bigint | number> }
  | { type: 'array'; itemType: 'bool'; value: ArrayLike<boolean> }
  | { type: 'array'; itemType: 'string'; value: ArrayLike<string> }

/**
 * Tensor element types the writer supports (`ggml_type` tags). Only plain element types: block
 * quantized types (Q4_0, Q8_0, K-quants, …) are out of scope.
 *
 * @example
 * ```ts
 * ggmlTypes.F32 // 0
 * ```
 */
export const ggmlTypes = {
  F32: 0,
  F16: 1,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  BF16: 30,
} as const

/** A supported tensor element type. */
export type GgmlType = keyof typeof ggmlTypes

/** The typed array each tensor element type is given in (F16/BF16: raw 16-bit patterns). */
export type GgmlTypedArray = {
  F32: Float32Array
  F16: Uint16Array
  I8: Int8Array
  I16: Int16Array
  I32: Int32Array
  I64: BigInt64Array
  F64: Float64Array
  BF16: Uint16Array
}

/**
 * One tensor: a name, its dimensions in **ggml order** (`ne[0]` first, the fastest-varying
 * dimension: a PyTorch/NumPy weight of shape `[out, in]` is `[in, out]` here) and its elements
 * in memory order.
 */
export type GgufTensor = {
  [T in GgmlType]: {
    /** At most 63 bytes of UTF-8 (llama.cpp's `GGML_MAX_NAME` is 64 including the NUL). */
    name: string
    type: T
    /** 1 to 4 positive dimensions, ggml order. */
    dims: readonly number[]
    /** `product(dims)` elements; written little endian. */
    data: GgmlTypedArray[T]
  }
}[GgmlType]

/** Input of {@link encodeGguf}. */
export type EncodeGgufParameters = {
  /**
   * Key/value metadata, written in insertion order. `general.alignment` (uint32, a power of two),
   * when present, sets the alignment of the tensor data; otherwise GGUF's default of 32 applies.
   */
  metadata: Readonly<Record<string, GgufValue>>
  /** Tensors, written in this order. */
  tensors: readonly GgufTensor[]
}

/**
 * The GGUF version {@link encodeGguf} writes.
 *
 * @example
 * ```ts
 * ggufVersion // 3
 * ```
 */
export const ggufVersion = 3

/**
 * Alignment of the tensor data when the metadata has no `general.alignment`.
 *
 * @example
 * ```ts
 * ggufDefaultAlignment // 32
 * ```
 */
export const ggufDefaultAlignment = 32

/** llama.cpp's `GGML_MAX_DIMS`. */
const maxDims = 4
/** llama.cpp's `GGML_MAX_NAME` includes the terminating NUL. */
const maxTensorNameBytes = 63

const elementBytes: Record<GgmlType, number> = {
  F32: 4,
  F16: 2,
  I8: 1,
  I16: 2,
  I32: 4,
  I64: 8,
  F64: 8,
  BF16: 2,
}

const typedArrays: Record<
  GgmlType,
  { readonly name: string; [Symbol.hasInstance](value: unknown): boolean }
> = {
  F32: Float32Array,
  F16: Uint16Array,
  I8: Int8Array,
  I16: Int16Array,
  I32: Int32Array,
  I64: BigInt64Array,
  F64: Float64Array,
  BF16: Uint16Array,
}

const integerRanges: Partial<Record<GgufScalarType, readonly [bigint, bigint]>> = {
  uint8: [0n, 0xffn],
  int8: [-0x80n, 0x7fn],
  uint16: [0n, 0xffffn],
  int16: [-0x8000n, 0x7fffn],
  uint32: [0n, 0xffff_ffffn],
  int32: [-0x8000_0000n, 0x7fff_ffffn],
  uint64: [0n, 0xffff_ffff_ffff_ffffn],
  int64: [-0x8000_0000_0000_0000n, 0x7fff_ffff_ffff_ffffn],
}

const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
const utf8 = new TextEncoder()

function invalid(message: string, hint: string): BaseError {
  return new BaseError('INVALID_ARGUMENT', message, { metaMessages: [hint] })
}

/** Growable little-endian byte sink for the header (metadata and tensor infos). */
function createByteWriter() {
  let bytes = new Uint8Array(4096)
  let view = new DataView(bytes.buffer)
  let length = 0
  const reserve = (count: number) => {
    if (length + count <= bytes.length) return
    let size = bytes.length * 2
    while (size < length + count) size *= 2
    const grown = new Uint8Array(size)
    grown.set(bytes.subarray(0, length))
    bytes = grown
    view = new DataView(bytes.buffer)
  }
  return {
    get length() {
      return length
    },
    u8(value: number) {
      reserve(1)
      view.setUint8(length, value)
      length += 1
    },
    i8(value: number) {
      reserve(1)
      view.setInt8(length, value)
      length += 1
    },
    u16(value: number) {
      reserve(2)
      view.setUint16(length, value, true)
      length += 2
    },
    i16(value: number) {
      reserve(2)
      view.setInt16(length, value, true)
      length += 2
    },
    u32(value: number) {
      reserve(4)
      view.setUint32(length, value, true)
      length += 4
    },
    i32(value: number) {
      reserve(4)
      view.setInt32(length, value, true)
      length += 4
    },
    u64(value: bigint) {
      reserve(8)
      view.setBigUint64(length, value, true)
      length += 8
    },
    i64(value: bigint) {
      reserve(8)
      view.setBigInt64(length, value, true)
      length += 8
    },
    f32(value: number) {
      reserve(4)
      view.setFloat32(length, value, true)
      length += 4
    },
    f64(value: number) {
      reserve(8)
      view.setFloat64(length, value, true)
      length += 8
    },
    raw(chunk: Uint8Array) {
      reserve(chunk.length)
      bytes.set(chunk, length)
      length += chunk.length
    },
    /** A `gguf_string`: uint64 byte length, then UTF-8 bytes without a terminator. */
    string(value: string) {
      const encoded = utf8.encode(value)
      this.u64(BigInt(encoded.length))
      this.raw(encoded)
    },
    result(): Uint8Array {
      return bytes.slice(0, length)
    },
  }
}

type ByteWriter = ReturnType<typeof createByteWriter>

function checkInteger(where: string, type: GgufScalarType, value: unknown): bigint {
  const range = integerRanges[type]!
  let integer: bigint
  if (typeof value === 'bigint') integer = value
  else if (typeof value === 'number' && Number.isSafeInteger(value)) integer = BigInt(value)
  else
    throw invalid(
      `${where} must be an integer for GGUF type ${type}; got ${String(value)}.`,
      type === 'uint64' || type === 'int64'
        ? 'Pass a bigint or a safe integer.'
        : 'Pass an integer, or use a float type.',
    )
  if (integer < range[0] || integer > range[1])
    throw invalid(
      `${where} must be within [${range[0]}, ${range[1]}] for GGUF type ${type}; got ${integer}.`,
      'Use a wider integer type or a smaller value.',
    )
  return integer
}

/** Writes one scalar of `type` (after checking that `value` fits it). */
function writeScalar(writer: ByteWriter, where: string, type: GgufScalarType, value: unknown) {
  switch (type) {
    case 'uint8':
      return writer.u8(Number(checkInteger(where, type, value)))
    case 'int8':
      return writer.i8(Number(checkInteger(where, type, value)))
    case 'uint16':
      return writer.u16(Number(checkInteger(where, type, value)))
    case 'int16':
      return writer.i16(Number(checkInteger(where, type, value)))
    case 'uint32':
      return writer.u32(Number(checkInteger(where, type, value)))
    case 'int32':
      return writer.i32(Number(checkInteger(where, type, value)))
    case 'uint64':
      return writer.u64(checkInteger(where, type, value))
    case 'int64':
      return writer.i64(checkInteger(where, type, value))
    case 'float32':
    case 'float64':
      if (typeof value !== 'number')
        throw invalid(
          `${where} must be a number for GGUF type ${type}; got ${typeof value}.`,
          'Pass a JavaScript number.',
        )
      return type === 'float32' ? writer.f32(value) : writer.f64(value)
    case 'bool':
      if (typeof value !== 'boolean')
        throw invalid(
          `${where} must be a boolean for GGUF type bool; got ${typeof value}.`,
          'Pass true or false.',
        )
      // GGUF bools are one byte, 0 or 1
      return writer.u8(value ? 1 : 0)
    case 'string':
      if (typeof value !== 'string')
        throw invalid(
          `${where} must be a string for GGUF type string; got ${typeof value}.`,
          'Pass a JavaScript string (it is written as UTF-8).',
        )
      return writer.string(value)
    default:
      throw invalid(
        `${where} has unknown GGUF type ${JSON.stringify(type)}.`,
        `Use one of: ${Object.keys(ggufValueTypes).join(', ')}.`,
      )
  }
}

function isScalarType(type: unknown): type is GgufScalarType {
  return typeof type === 'string' && type !== 'array' && Object.hasOwn(ggufValueTypes, type)
}

/** Writes a metadata value: its uint32 type tag, then the value (arrays: item type, count, items). */
function writeValue(writer: ByteWriter, key: string, entry: GgufValue) {
  const where = `Metadata ${JSON.stringify(key)}`
  if (entry.type === 'array') {
    if (!isScalarType(entry.itemType))
      throw invalid(
        `${where} is an array of unknown item type ${JSON.stringify(entry.itemType)}.`,
        `Use one of: ${Object.keys(ggufValueTypes)
          .filter((name) => name !== 'array')
          .join(', ')} (nested arrays are not supported).`,
      )
    writer.u32(ggufValueTypes.array)
    writer.u32(ggufValueTypes[entry.itemType])
    const items: ArrayLike<unknown> = entry.value
    if (items === null || typeof items !== 'object' || !Number.isSafeInteger(items.length))
      throw invalid(
        `${where} must hold an array (or typed array) of ${entry.itemType}; got ${typeof items}.`,
        'Pass the items as an array.',
      )
    writer.u64(BigInt(items.length))
    for (let index = 0; index < items.length; index++)
      writeScalar(writer, `${where}[${index}]`, entry.itemType, items[index])
    return
  }
  if (!isScalarType(entry.type))
    throw invalid(
      `${where} has unknown GGUF type ${JSON.stringify(entry.type)}.`,
      `Use one of: ${Object.keys(ggufValueTypes).join(', ')}.`,
    )
  writer.u32(ggufValueTypes[entry.type])
  writeScalar(writer, where, entry.type, entry.value)
}

function readAlignment(metadata: EncodeGgufParameters['metadata']): number {
  const entry = metadata['general.alignment']
  if (entry === undefined) return ggufDefaultAlignment
  const value = entry.type === 'uint32' ? entry.value : undefined
  if (value === undefined || !Number.isInteger(value) || value <= 0 || (value & (value - 1)) !== 0)
    throw invalid(
      `Metadata "general.alignment" must be a uint32 power of two; got ${JSON.stringify(entry)}.`,
      'Use { type: "uint32", value: 32 } (the GGUF default) or omit the key.',
    )
  return value
}

function alignUp(offset: number, alignment: number): number {
  return Math.ceil(offset / alignment) * alignment
}

/** Checks a tensor and returns its element count. */
function checkTensor(tensor: GgufTensor, index: number, names: Set<string>): number {
  const where = `Tensor ${index} (${JSON.stringify(tensor.name)})`
  const nameBytes = utf8.encode(tensor.name).length
  if (nameBytes === 0 || nameBytes > maxTensorNameBytes)
    throw invalid(
      `${where} must have a name of 1 to ${maxTensorNameBytes} UTF-8 bytes; it has ${nameBytes}.`,
      'llama.cpp rejects longer names (GGML_MAX_NAME): shorten it.',
    )
  if (names.has(tensor.name))
    throw invalid(`${where} repeats a tensor name.`, 'Every tensor needs a unique name.')
  names.add(tensor.name)
  if (!Object.hasOwn(ggmlTypes, tensor.type))
    throw invalid(
      `${where} has unsupported type ${JSON.stringify(tensor.type)}.`,
      `Use one of: ${Object.keys(ggmlTypes).join(', ')}.`,
    )
  const { dims } = tensor
  if (
    dims.length < 1 ||
    dims.length > maxDims ||
    !dims.every((d) => Number.isSafeInteger(d) && d > 0)
  )
    throw invalid(
      `${where} must have 1 to ${maxDims} positive integer dimensions; got [${dims.join(', ')}].`,
      'Give dims in ggml order (ne[0], the fastest-varying dimension, first).',
    )
  const count = dims.reduce((product, d) => product * d, 1)
  const expectedArray = typedArrays[tensor.type]
  if (!(tensor.data instanceof expectedArray))
    throw invalid(
      `${where} of type ${tensor.type} must hold its data in a ${expectedArray.name}; got ${
        (tensor.data as unknown as object | undefined)?.constructor?.name ?? typeof tensor.data
      }.`,
      'F16 and BF16 take raw 16-bit patterns in a Uint16Array.',
    )
  if (tensor.data.length !== count)
    throw invalid(
      `${where} has dims [${dims.join(', ')}] (${count} elements) but ${tensor.data.length} data elements.`,
      'Make data.length equal the product of dims.',
    )
  return count
}

/** The little-endian bytes of a typed array (copied and byte-swapped on big-endian hosts). */
function littleEndianBytes(data: GgufTensor['data'], width: number): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  if (hostIsLittleEndian || width === 1) return bytes
  const swapped = new Uint8Array(bytes.length)
  for (let start = 0; start < bytes.length; start += width)
    for (let k = 0; k < width; k++) swapped[start + k] = bytes[start + width - 1 - k]!
  return swapped
}

/**
 * Encodes a GGUF v3 file (the model format of llama.cpp), little endian:
 *
 * 1. header: magic `GGUF`, uint32 version 3, uint64 tensor count, uint64 metadata count;
 * 2. metadata: per key a `gguf_string` (uint64 length + UTF-8), a uint32 type tag and the value
 *    (arrays: uint32 item type, uint64 count, items; bools are one byte);
 * 3. tensor infos: name, uint32 dimension count, uint64 dims (ggml order), uint32 `ggml_type`,
 *    uint64 offset of the data relative to the start of the data section;
 * 4. zero padding to the alignment, then each tensor's data, every tensor zero-padded to the
 *    alignment (so every offset, and the file size, is a multiple of it).
 *
 * The output depends only on the arguments (metadata in insertion order, tensors in array order),
 * so equal inputs give byte-identical files.
 *
 * @example
 * ```ts
 * const bytes = encodeGguf({
 *   metadata: {
 *     'general.architecture': { type: 'string', value: 'llama' },
 *     'general.alignment': { type: 'uint32', value: 32 },
 *   },
 *   tensors: [{ name: 'output_norm.weight', type: 'F32', dims: [4], data: new Float32Array(4).fill(1) }],
 * })
 * ```
 */
export function encodeGguf(parameters: EncodeGgufParameters): Uint8Array {
  const { metadata, tensors } = parameters
  const alignment = readAlignment(metadata)
  const keys = Object.keys(metadata)
  const writer = createByteWriter()
  writer.raw(utf8.encode('GGUF'))
  writer.u32(ggufVersion)
  writer.u64(BigInt(tensors.length))
  writer.u64(BigInt(keys.length))
  for (const key of keys) {
    const keyBytes = utf8.encode(key).length
    if (keyBytes === 0 || keyBytes > 65_535)
      throw invalid(
        `Metadata keys must be 1 to 65535 UTF-8 bytes; got one of ${keyBytes}.`,
        'Use dotted lower_snake_case keys such as "general.name".',
      )
    writer.string(key)
    writeValue(writer, key, metadata[key]!)
  }

  const names = new Set<string>()
  const placements: { bytes: Uint8Array; offset: number }[] = []
  let dataSize = 0
  tensors.forEach((tensor, index) => {
    const count = checkTensor(tensor, index, names)
    const bytes = littleEndianBytes(tensor.data, elementBytes[tensor.type])
    const offset = alignUp(dataSize, alignment)
    writer.string(tensor.name)
    writer.u32(tensor.dims.length)
    for (const d of tensor.dims) writer.u64(BigInt(d))
    writer.u32(ggmlTypes[tensor.type])
    writer.u64(BigInt(offset))
    placements.push({ bytes, offset })
    dataSize = alignUp(offset + count * elementBytes[tensor.type], alignment)
  })

  const header = writer.result()
  const dataStart = alignUp(header.length, alignment)
  // a zero-filled buffer: every padding byte stays 0
  const file = new Uint8Array(dataStart + dataSize)
  file.set(header, 0)
  for (const { bytes, offset } of placements) file.set(bytes, dataStart + offset)
  return file
}
