/**
 * The GGUF header reader: magic, version, counts, metadata key/values and tensor infos, read from
 * untrusted bytes with hard limits. Everything a 64-bit field can hold is read as a BigInt and
 * checked before it becomes a number, every length is checked against the bytes that are really
 * there before anything is allocated or looped over, and no value is decoded twice, so a hostile
 * file costs at most `maxHeaderBytes` of reading.
 *
 * Layout (little-endian, GGUF v2/v3):
 *
 * ```
 * "GGUF" u32 version  u64 n_tensors  u64 n_kv
 * n_kv ×      { string key, u32 value_type, value }
 * n_tensors × { string name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset }
 * padding to general.alignment (default 32), then the tensor data; offsets are relative to it
 * string = u64 length + UTF-8 bytes; array = u32 item_type + u64 length + items
 * ```
 */
import { BaseError } from '@verity/protocol'
import { describeGgmlType, type GgmlType, ggmlTypes } from './ggmlTypes.ts'

/** Limits applied to untrusted GGUF files. */
export type GgufLimits = {
  /** Largest accepted file (`MODEL_TOO_LARGE`). */
  maxModelBytes: number
  /** Largest header (metadata and tensor infos, before the tensor data) that is read. */
  maxHeaderBytes: number
  /** Most metadata key/value pairs. */
  maxKeyValues: number
  /** Most tensors. */
  maxTensors: number
  /** Longest string value (keys and tensor names are capped at 65535 bytes, as in the spec). */
  maxStringBytes: number
  /** Longest array (a vocabulary of 262144 tokens is one array of that length). */
  maxArrayLength: number
  /** Deepest nesting of arrays in arrays (1 = an array of arrays). */
  maxArrayDepth: number
}

/**
 * Default limits: 64 GiB files, a 64 MiB header (real vocabularies with merges take under 16 MiB),
 * 4096 metadata entries, 65536 tensors, 1 MiB strings (chat templates are tens of KiB), arrays of
 * up to 2^22 items, arrays nested 4 deep.
 *
 * @example
 * ```ts
 * inspectGguf(bytes, { ...defaultGgufLimits, maxModelBytes: 2 ** 30 })
 * ```
 */
export const defaultGgufLimits: Readonly<GgufLimits> = Object.freeze({
  maxModelBytes: 64 * 2 ** 30,
  maxHeaderBytes: 64 * 2 ** 20,
  maxKeyValues: 4096,
  maxTensors: 65_536,
  maxStringBytes: 2 ** 20,
  maxArrayLength: 2 ** 22,
  maxArrayDepth: 4,
})

/** The GGUF metadata value types, by their id in the file. */
export const ggufValueTypes = [
  'uint8',
  'int8',
  'uint16',
  'int16',
  'uint32',
  'int32',
  'float32',
  'bool',
  'string',
  'array',
  'uint64',
  'int64',
  'float64',
] as const

export type GgufValueType = (typeof ggufValueTypes)[number]

/** A scalar metadata value; 64-bit integers stay BigInts. */
export type GgufScalar =
  | {
      type: 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64'
      value: number
    }
  | { type: 'uint64' | 'int64'; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }

/**
 * An array value. Its items are kept (`values`) only for top-level arrays of at most
 * {@link ggufArrayPreviewLength} scalars; long arrays (vocabularies, merges) are only measured.
 */
export type GgufArray = {
  type: 'array'
  itemType: GgufValueType
  length: number
  values: GgufScalar[] | undefined
}

export type GgufMetadataValue = GgufScalar | GgufArray

/** Arrays up to this length keep their items in {@link GgufArray}`.values`. */
export const ggufArrayPreviewLength = 64

/** A tensor as the header declares it. */
export type GgufTensorInfo = {
  name: string
  /** ggml order: `dims[0]` is the innermost (contiguous) dimension. */
  dims: number[]
  type: GgmlType
  /** Byte offset of its data, relative to the start of the data section. */
  offset: number
  /** Element count (product of the dims). */
  elements: number
  /** Bytes of data (`ggml_nbytes`). */
  bytes: number
}

export type GgufHeader = {
  version: number
  /** Metadata in file order. */
  metadata: Map<string, GgufMetadataValue>
  tensors: GgufTensorInfo[]
  /** `general.alignment`, default 32. */
  alignment: number
  /** Where the tensor infos end. */
  headerBytes: number
  /** Where the tensor data starts: `headerBytes` rounded up to `alignment`. */
  dataOffset: number
  fileSize: number
  /**
   * For how many of the 256 byte values `tokenizer.ggml.tokens` holds a byte token: `<0xXX>` or
   * the one-byte string (what llama.cpp's `byte_to_token` looks up). A SentencePiece (`llama`)
   * vocabulary needs all of them: llama.cpp spells characters it has no token for with them, and a
   * missing one aborts the process (`std::out_of_range` out of `byte_to_token`).
   */
  byteTokens: number
}

/** Raised (and caught by the file reader) when the header goes on past the bytes read so far. */
export class NeedMoreBytes {
  readonly end: number
  constructor(end: number) {
    this.end = end
  }
}

const maxNameBytes = 65_535
const maxDims = 4
const int64Max = 2n ** 63n - 1n
const fixedSize: Partial<Record<GgufValueType, number>> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  bool: 1,
  uint64: 8,
  int64: 8,
  float64: 8,
}
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const looseUtf8 = new TextDecoder('utf-8', { ignoreBOM: true })

function invalid(message: string, hints: readonly string[] = []): BaseError {
  return new BaseError('MODEL_INVALID', message, { metaMessages: hints })
}

function raiseHint(limit: keyof GgufLimits): string {
  return `If the model is genuine, raise the ${limit} limit; otherwise the file is corrupted or hostile.`
}

/** `JSON.stringify` of a name from the file, cut to a printable length. */
export function quoteGgufName(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name)
}

/**
 * Reads the GGUF header from `bytes`, the first `bytes.length` bytes of a file of `fileSize` bytes.
 * Throws `MODEL_INVALID` for anything malformed or over a limit, and {@link NeedMoreBytes} when the
 * header continues past `bytes` (only possible when `bytes` is a prefix of the file).
 *
 * @example
 * ```ts
 * const header = parseGgufHeader(bytes, bytes.length, defaultGgufLimits)
 * header.metadata.get('general.architecture') // { type: 'string', value: 'llama' }
 * ```
 */
export function parseGgufHeader(
  bytes: Uint8Array,
  fileSize: number,
  limits: GgufLimits,
): GgufHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let pos = 0

  /** Makes sure `size` bytes can be read at `pos`, for `what`. */
  function need(size: number, what: string): void {
    const end = pos + size
    if (end > fileSize)
      throw invalid(
        `The file ends at byte ${fileSize}, inside ${what} (${size} bytes needed at byte ${pos}): it is truncated or malformed.`,
        ['Download the model again and compare its sha256 with the published one.'],
      )
    if (end > limits.maxHeaderBytes)
      throw invalid(
        `The GGUF header goes on past byte ${limits.maxHeaderBytes} (at ${what}); the maxHeaderBytes limit is ${limits.maxHeaderBytes}.`,
        [raiseHint('maxHeaderBytes')],
      )
    if (end > bytes.length) throw new NeedMoreBytes(end)
  }
  const u32 = (what: string): number => {
    need(4, what)
    const value = view.getUint32(pos, true)
    pos += 4
    return value
  }
  const u64 = (what: string): bigint => {
    need(8, what)
    const value = view.getBigUint64(pos, true)
    pos += 8
    return value
  }
  /** A string's bytes, its length checked against `max` first. */
  const stringBytes = (what: string, max: number, limit: string): Uint8Array => {
    const at = pos
    const length = u64(`the length of ${what}`)
    if (length > BigInt(max))
      throw invalid(
        `${capitalize(what)} at byte ${at} declares a length of ${length} bytes; the ${limit} limit is ${max}.`,
        limit === 'maxStringBytes'
          ? [raiseHint('maxStringBytes')]
          : ['The GGUF format caps keys and tensor names at 65535 bytes.'],
      )
    need(Number(length), what)
    const slice = bytes.subarray(pos, pos + Number(length))
    pos += Number(length)
    return slice
  }
  const strictString = (what: string, max: number, limit: string): string => {
    const at = pos
    const raw = stringBytes(what, max, limit)
    try {
      return strictUtf8.decode(raw)
    } catch {
      throw invalid(`${capitalize(what)} at byte ${at} is not valid UTF-8.`, [
        'GGUF keys, tensor names and string values are UTF-8.',
      ])
    }
  }

  // --- magic and version
  need(4, 'the magic number')
  if (!hasGgufMagic(bytes)) throw badMagic(bytes)
  pos = 4
  const version = u32('the version')
  if (version !== 2 && version !== 3)
    throw invalid(
      `The GGUF version is ${version}; llama.cpp loads versions 2 and 3.`,
      version === 1
        ? [
            'GGUF v1 (2023) is no longer supported: convert the original model again with a current llama.cpp.',
          ]
        : version === 0x02_00_00_00 || version === 0x03_00_00_00
          ? [
              'The file is big-endian (written for s390x): only little-endian GGUF files are accepted.',
            ]
          : [
              'The file is corrupted, or was written by a newer GGUF version than llama.cpp supports.',
            ],
    )
  const tensorCountAt = pos
  const tensorCount = u64('the tensor count')
  if (tensorCount > BigInt(limits.maxTensors))
    throw invalid(
      `The header (byte ${tensorCountAt}) declares ${tensorCount} tensors; the maxTensors limit is ${limits.maxTensors}.`,
      [raiseHint('maxTensors')],
    )
  const kvCountAt = pos
  const kvCount = u64('the metadata count')
  if (kvCount > BigInt(limits.maxKeyValues))
    throw invalid(
      `The header (byte ${kvCountAt}) declares ${kvCount} metadata entries; the maxKeyValues limit is ${limits.maxKeyValues}.`,
      [raiseHint('maxKeyValues')],
    )

  // --- metadata
  const valueType = (what: string): GgufValueType => {
    const at = pos
    const id = u32(what)
    const type = ggufValueTypes[id]
    if (type === undefined)
      throw invalid(
        `${capitalize(what)} at byte ${at} is ${id}; GGUF value types are 0 to ${ggufValueTypes.length - 1}.`,
      )
    return type
  }

  const scalar = (type: Exclude<GgufValueType, 'array'>, what: string): GgufScalar => {
    if (type === 'string')
      return { type, value: strictString(what, limits.maxStringBytes, 'maxStringBytes') }
    const size = fixedSize[type] ?? 0
    need(size, what)
    const at = pos
    pos += size
    switch (type) {
      case 'uint8':
        return { type, value: view.getUint8(at) }
      case 'int8':
        return { type, value: view.getInt8(at) }
      case 'uint16':
        return { type, value: view.getUint16(at, true) }
      case 'int16':
        return { type, value: view.getInt16(at, true) }
      case 'uint32':
        return { type, value: view.getUint32(at, true) }
      case 'int32':
        return { type, value: view.getInt32(at, true) }
      case 'float32':
        return { type, value: view.getFloat32(at, true) }
      case 'float64':
        return { type, value: view.getFloat64(at, true) }
      case 'uint64':
        return { type, value: view.getBigUint64(at, true) }
      case 'int64':
        return { type, value: view.getBigInt64(at, true) }
      case 'bool': {
        const byte = view.getUint8(at)
        if (byte > 1)
          throw invalid(
            `${capitalize(what)} at byte ${at} is a bool stored as ${byte}; expected 0 or 1.`,
          )
        return { type, value: byte === 1 }
      }
    }
  }

  /** Reads (or, for long arrays, skips over) an array's items. */
  /** Byte values with a byte token (`<0xXX>` or the byte itself) in `tokenizer.ggml.tokens`. */
  const byteTokens = new Uint8Array(256)
  const noteByteToken = (raw: Uint8Array): void => {
    if (raw.length === 1) {
      byteTokens[raw[0] ?? 0] = 1
      return
    }
    // exactly "<0x" + two uppercase hex digits + ">", as llama.cpp's byte_to_token spells them
    if (
      raw.length !== 6 ||
      raw[0] !== 0x3c ||
      raw[1] !== 0x30 ||
      raw[2] !== 0x78 ||
      raw[5] !== 0x3e
    )
      return
    const high = hexDigit(raw[3] ?? 0)
    const low = hexDigit(raw[4] ?? 0)
    if (high >= 0 && low >= 0) byteTokens[high * 16 + low] = 1
  }

  const array = (what: string, depth: number, onString?: (raw: Uint8Array) => void): GgufArray => {
    const itemType = valueType(`the item type of ${what}`)
    const lengthAt = pos
    const length = u64(`the length of ${what}`)
    if (length > BigInt(limits.maxArrayLength))
      throw invalid(
        `${capitalize(what)} (byte ${lengthAt}) declares ${length} items; the maxArrayLength limit is ${limits.maxArrayLength}.`,
        [raiseHint('maxArrayLength')],
      )
    const count = Number(length)
    if (itemType === 'array' && depth + 1 > limits.maxArrayDepth)
      throw invalid(
        `${capitalize(what)} nests arrays more than ${limits.maxArrayDepth} deep; the maxArrayDepth limit is ${limits.maxArrayDepth}.`,
        [raiseHint('maxArrayDepth')],
      )
    // the smallest item of this type, so a declared length can never outrun the bytes present
    const minItem = fixedSize[itemType] ?? (itemType === 'string' ? 8 : 12)
    need(count * minItem, `the ${count} items of ${what}`)
    const keep = depth === 0 && itemType !== 'array' && count <= ggufArrayPreviewLength
    const values: GgufScalar[] | undefined = keep ? [] : undefined
    if (itemType === 'array') {
      for (let i = 0; i < count; i++) array(`item ${i} of ${what}`, depth + 1)
    } else if (itemType === 'string') {
      for (let i = 0; i < count; i++) {
        const raw = stringBytes(`item ${i} of ${what}`, limits.maxStringBytes, 'maxStringBytes')
        values?.push({ type: 'string', value: looseUtf8.decode(raw) })
        onString?.(raw)
      }
    } else if (values) {
      for (let i = 0; i < count; i++) values.push(scalar(itemType, `item ${i} of ${what}`))
    } else pos += count * minItem
    return { type: 'array', itemType, length: count, values }
  }

  const metadata = new Map<string, GgufMetadataValue>()
  for (let i = 0; i < Number(kvCount); i++) {
    const keyAt = pos
    const key = strictString(`the key of metadata entry ${i}`, maxNameBytes, 'GGUF key length')
    if (key.length === 0) throw invalid(`Metadata entry ${i} (byte ${keyAt}) has an empty key.`)
    if (metadata.has(key))
      throw invalid(
        `The metadata key ${quoteGgufName(key)} appears twice (again at byte ${keyAt}, entry ${i}).`,
        ['A GGUF key names one value; llama.cpp refuses duplicates.'],
      )
    const what = `the value of ${quoteGgufName(key)}`
    const type = valueType(`the type of ${quoteGgufName(key)}`)
    const onString = key === 'tokenizer.ggml.tokens' ? noteByteToken : undefined
    metadata.set(key, type === 'array' ? array(what, 0, onString) : scalar(type, what))
  }

  // --- tensor infos
  type Declared = { name: string; dims: bigint[]; typeId: number; offset: bigint; at: number }
  const declared: Declared[] = []
  const names = new Set<string>()
  for (let i = 0; i < Number(tensorCount); i++) {
    const at = pos
    const name = strictString(`the name of tensor ${i}`, maxNameBytes, 'GGUF name length')
    if (names.has(name))
      throw invalid(
        `The tensor name ${quoteGgufName(name)} appears twice (again at byte ${at}, tensor ${i}).`,
        ['Tensor names are unique in a GGUF file; llama.cpp refuses duplicates.'],
      )
    names.add(name)
    const label = `tensor ${quoteGgufName(name)}`
    const dimsAt = pos
    const nDims = u32(`the dimension count of ${label}`)
    if (nDims > maxDims)
      throw invalid(
        `${capitalize(label)} (byte ${dimsAt}) has ${nDims} dimensions; ggml tensors have at most ${maxDims}.`,
      )
    const dims: bigint[] = []
    for (let d = 0; d < nDims; d++) {
      const dimAt = pos
      const dim = u64(`dimension ${d} of ${label}`)
      if (dim > int64Max)
        throw invalid(
          `Dimension ${d} of ${label} (byte ${dimAt}) is ${BigInt.asIntN(64, dim)} as a signed 64-bit integer; dimensions are >= 0.`,
        )
      if (dim > BigInt(Number.MAX_SAFE_INTEGER))
        throw invalid(
          `Dimension ${d} of ${label} (byte ${dimAt}) is ${dim}; dimensions above 2^53 - 1 are refused.`,
        )
      dims.push(dim)
    }
    const typeId = u32(`the ggml type of ${label}`)
    const offset = u64(`the data offset of ${label}`)
    declared.push({ name, dims, typeId, offset, at })
  }
  const headerBytes = pos

  // --- alignment and data section
  let alignment = 32
  const declaredAlignment = metadata.get('general.alignment')
  if (declaredAlignment !== undefined) {
    if (declaredAlignment.type !== 'uint32')
      throw invalid(
        `general.alignment is a ${describeValueType(declaredAlignment)}; GGUF requires a uint32.`,
        ['llama.cpp aborts on a general.alignment of another type.'],
      )
    const value = declaredAlignment.value
    if (value === 0 || (value & (value - 1)) !== 0)
      throw invalid(`general.alignment is ${value}; it must be a power of two.`)
    alignment = value
  }
  const dataOffset = Math.ceil(headerBytes / alignment) * alignment
  const dataBytes = BigInt(fileSize - Math.min(fileSize, dataOffset))
  if (declared.length > 0 && dataOffset > fileSize)
    throw invalid(
      `The tensor data should start at byte ${dataOffset} (header end ${headerBytes} aligned to ${alignment}) but the file has ${fileSize} bytes: it is truncated.`,
    )

  const tensors: GgufTensorInfo[] = declared.map(({ name, dims, typeId, offset, at }) => {
    const label = `tensor ${quoteGgufName(name)}`
    const type = ggmlTypes.get(typeId)
    if (type === undefined)
      throw invalid(
        `${capitalize(label)} (byte ${at}) has ggml type ${describeGgmlType(typeId)}, which llama.cpp cannot load.`,
        ['Re-quantize the model with a current llama.cpp (llama-quantize).'],
      )
    let elements = 1n
    for (const dim of dims) {
      elements *= dim
      if (elements > int64Max)
        throw invalid(
          `${capitalize(label)} has dims [${dims.join(', ')}], whose product overflows a 64-bit integer.`,
        )
    }
    const inner = dims[0] ?? 1n
    if (inner % BigInt(type.blockSize) !== 0n)
      throw invalid(
        `${capitalize(label)} has ${inner} elements in its first dimension, not a multiple of the ${type.name} block size ${type.blockSize}.`,
      )
    const size = (elements / BigInt(type.blockSize)) * BigInt(type.typeSize)
    if (offset > dataBytes || size > dataBytes - offset)
      throw invalid(
        `${capitalize(label)} occupies bytes [${offset}, ${offset + size}) of the data section, which has ${dataBytes} bytes (file ${fileSize} bytes, data from byte ${dataOffset}).`,
        ['The file is truncated, or the tensor offset is corrupted.'],
      )
    return {
      name,
      dims: dims.map(Number),
      type,
      offset: Number(offset),
      elements: Number(elements),
      bytes: Number(size),
    }
  })

  return {
    version,
    metadata,
    tensors,
    alignment,
    headerBytes,
    dataOffset,
    fileSize,
    byteTokens: byteTokens.reduce((count, seen) => count + seen, 0),
  }
}

/**
 * Whether `bytes` starts with the GGUF magic `"GGUF"`.
 *
 * @example
 * ```ts
 * hasGgufMagic(new TextEncoder().encode('GGUF\x03\x00\x00\x00')) // true
 * ```
 */
export function hasGgufMagic(bytes: Uint8Array): boolean {
  return bytes[0] === 0x47 && bytes[1] === 0x47 && bytes[2] === 0x55 && bytes[3] === 0x46
}

function badMagic(bytes: Uint8Array): BaseError {
  const head = looseUtf8.decode(bytes.subarray(0, 64))
  const found = [...bytes.subarray(0, 4)].map((byte) => byte.toString(16).padStart(2, '0'))
  if (head.startsWith('version https://git-lfs'))
    return invalid('The file is a Git LFS pointer, not a GGUF model.', [
      'Fetch the real file (git lfs pull) and try again.',
    ])
  return invalid(
    `The file does not start with the GGUF magic "GGUF" (47 47 55 46); it starts with ${found.join(' ')}.`,
    [
      'Expected a llama.cpp GGUF model (.gguf). Check that the file is complete and really is GGUF.',
    ],
  )
}

/**
 * The type of a metadata value in words, e.g. `uint32` or `array of string`.
 *
 * @example
 * ```ts
 * describeValueType({ type: 'array', itemType: 'string', length: 2, values: undefined }) // 'array of string'
 * ```
 */
export function describeValueType(value: GgufMetadataValue): string {
  return value.type === 'array' ? `array of ${value.itemType}` : value.type
}

/** The value of an uppercase hex digit's character code, or -1. */
function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10
  return -1
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}
