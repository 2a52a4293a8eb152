import type { FileHandle } from 'node:fs/promises'
import { BaseError } from '@verity/protocol'
import {
  defaultGgufLimits,
  describeValueType,
  type GgufHeader,
  type GgufLimits,
  type GgufMetadataValue,
  type GgufTensorInfo,
  NeedMoreBytes,
  parseGgufHeader,
  quoteGgufName,
} from './parseGgufHeader.ts'

/** What the tokenizer metadata (`tokenizer.ggml.*`) says. */
export type GgufTokenizerInfo = {
  /** `tokenizer.ggml.model` (llama, gpt2, …). */
  model: string
  /** Length of `tokenizer.ggml.tokens` (0 when the file has no token list). */
  vocabSize: number
  /** For how many of the 256 byte values the vocabulary has a byte token (`<0xXX>` or the byte). */
  byteTokens: number
  /** `tokenizer.ggml.bos_token_id`; `undefined` when absent or 0xFFFFFFFF (none). */
  bosTokenId: number | undefined
  /** `tokenizer.ggml.eos_token_id`; `undefined` when absent or 0xFFFFFFFF (none). */
  eosTokenId: number | undefined
  addBosToken: boolean | undefined
}

/** Counts over the tensor infos. */
export type GgufTensorSummary = {
  count: number
  /** Tensors per ggml type name, keys sorted. */
  types: Record<string, number>
  /** Total elements of all tensors. */
  parameterCount: number
  /** Total bytes of tensor data (without alignment padding). */
  dataBytes: number
}

/** What a GGUF file declares, read from its header without loading the tensors. */
export type GgufInfo = {
  /** GGUF format version (2 or 3). */
  version: number
  fileSize: number
  /** `general.alignment`, default 32. */
  alignment: number
  /** Where the header (metadata and tensor infos) ends. */
  headerBytes: number
  /** Where the tensor data starts. */
  dataOffset: number
  /** `general.architecture`. */
  architecture: string
  /** `general.name`. */
  name: string | undefined
  /** `<arch>.context_length`. */
  contextLength: number | undefined
  /** `<arch>.embedding_length`. */
  embeddingLength: number | undefined
  /** `<arch>.block_count`. */
  blockCount: number | undefined
  /** `general.file_type` (the quantization). */
  fileType: number | undefined
  /** `tokenizer.chat_template`. */
  chatTemplate: string | undefined
  /** Present when the file has `tokenizer.ggml.model`. */
  tokenizer: GgufTokenizerInfo | undefined
  tensorSummary: GgufTensorSummary
  tensors: GgufTensorInfo[]
  /** Every metadata entry, in file order (long arrays measured, not kept). */
  metadata: ReadonlyMap<string, GgufMetadataValue>
}

const architecturePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
const integerTypes: ReadonlySet<string> = new Set([
  'uint8',
  'int8',
  'uint16',
  'int16',
  'uint32',
  'int32',
  'uint64',
  'int64',
])
/** `LLAMA_TOKEN_NULL` (-1) as stored in a uint32 token id. */
const noToken = 0xff_ff_ff_ff
/** The first bytes read from a file handle; the read grows (doubling) while the header goes on. */
const firstReadBytes = 1 << 20

function invalid(message: string, hints: readonly string[] = []): BaseError {
  return new BaseError('MODEL_INVALID', message, { metaMessages: hints })
}

/**
 * Checks user-supplied limits, filling the rest from {@link defaultGgufLimits}. Throws
 * `INVALID_ARGUMENT` on values that are not positive safe integers.
 *
 * @example
 * ```ts
 * resolveGgufLimits({ maxTensors: 1024 }).maxTensors // 1024
 * ```
 */
export function resolveGgufLimits(options: Partial<GgufLimits> = {}): GgufLimits {
  const limits: GgufLimits = { ...defaultGgufLimits }
  for (const key of Object.keys(defaultGgufLimits) as Array<keyof GgufLimits>) {
    const value = options[key]
    if (value === undefined) continue
    if (!Number.isSafeInteger(value) || value < 1)
      throw new BaseError(
        'INVALID_ARGUMENT',
        `The GGUF limit ${key} must be a positive integer; got ${String(value)}.`,
      )
    limits[key] = value
  }
  return limits
}

function tooLarge(size: number, limits: GgufLimits): BaseError {
  return new BaseError(
    'MODEL_TOO_LARGE',
    `The model file is ${size} bytes; the maxModelBytes limit is ${limits.maxModelBytes} bytes.`,
    { metaMessages: ['Raise maxModelBytes if this model is expected to be this large.'] },
  )
}

function isFileHandle(value: unknown): value is FileHandle {
  const candidate = value as Partial<FileHandle> | null
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.read === 'function' &&
    typeof candidate.stat === 'function'
  )
}

/** Fills `target` from `position` in the file; a short read means the file changed under us. */
async function readExactly(handle: FileHandle, target: Uint8Array, position: number) {
  let done = 0
  while (done < target.length) {
    const { bytesRead } = await handle.read(target, done, target.length - done, position + done)
    if (bytesRead === 0)
      throw invalid(
        `The file ended at byte ${position + done} while its header was read, before the size it had when opened.`,
        ['The file changed while it was read; read it again when it is complete.'],
      )
    done += bytesRead
  }
}

/** Reads only as much of the file as its header needs (at most `maxHeaderBytes`). */
async function readHeaderFromFile(handle: FileHandle, limits: GgufLimits): Promise<GgufHeader> {
  const stats = await handle.stat()
  if (!stats.isFile())
    throw new BaseError('INVALID_ARGUMENT', 'inspectGguf expects a handle on a regular file.')
  const size = stats.size
  if (size > limits.maxModelBytes) throw tooLarge(size, limits)
  let prefix = new Uint8Array(0)
  let want = Math.min(size, limits.maxHeaderBytes, firstReadBytes)
  for (;;) {
    const grown = new Uint8Array(want)
    grown.set(prefix)
    await readExactly(handle, grown.subarray(prefix.length), prefix.length)
    prefix = grown
    try {
      return parseGgufHeader(prefix, size, limits)
    } catch (error) {
      if (!(error instanceof NeedMoreBytes)) throw error
      // parseGgufHeader only asks for bytes that exist and are within maxHeaderBytes
      want = Math.min(size, limits.maxHeaderBytes, Math.max(error.end, prefix.length * 2))
    }
  }
}

function readHeader(bytes: Uint8Array, limits: GgufLimits): GgufHeader {
  if (bytes.length > limits.maxModelBytes) throw tooLarge(bytes.length, limits)
  try {
    return parseGgufHeader(bytes, bytes.length, limits)
  } catch (error) {
    // with the whole file in hand the parser never runs out of bytes; keep the contract explicit
    if (error instanceof NeedMoreBytes)
      throw new BaseError('INTERNAL', 'The GGUF reader asked for bytes past the whole file.')
    throw error
  }
}

/** A metadata value that must be an unsigned integer fitting a JS number. */
function integerFact(metadata: GgufHeader['metadata'], key: string): number | undefined {
  const entry = metadata.get(key)
  if (entry === undefined) return undefined
  if (entry.type === 'array' || !integerTypes.has(entry.type))
    throw invalid(
      `The metadata key ${quoteGgufName(key)} is a ${describeValueType(entry)}; expected an unsigned integer.`,
    )
  const value = entry.value as number | bigint
  if (value < 0 || value > Number.MAX_SAFE_INTEGER)
    throw invalid(
      `The metadata key ${quoteGgufName(key)} is ${value}; expected an integer from 0 to 2^53 - 1.`,
    )
  return Number(value)
}

function stringFact(metadata: GgufHeader['metadata'], key: string): string | undefined {
  const entry = metadata.get(key)
  if (entry === undefined) return undefined
  if (entry.type !== 'string')
    throw invalid(
      `The metadata key ${quoteGgufName(key)} is a ${describeValueType(entry)}; expected a string.`,
    )
  return entry.value
}

function boolFact(metadata: GgufHeader['metadata'], key: string): boolean | undefined {
  const entry = metadata.get(key)
  if (entry === undefined) return undefined
  if (entry.type !== 'bool')
    throw invalid(
      `The metadata key ${quoteGgufName(key)} is a ${describeValueType(entry)}; expected a bool.`,
    )
  return entry.value
}

/** A special token id; `0xFFFFFFFF` (-1 as llama.cpp reads it) means "none". */
function tokenIdFact(metadata: GgufHeader['metadata'], key: string): number | undefined {
  const id = integerFact(metadata, key)
  return id === noToken ? undefined : id
}

function tokenizerOf(header: GgufHeader): GgufTokenizerInfo | undefined {
  const { metadata } = header
  const model = stringFact(metadata, 'tokenizer.ggml.model')
  if (model === undefined) return undefined
  const tokens = metadata.get('tokenizer.ggml.tokens')
  if (tokens !== undefined && (tokens.type !== 'array' || tokens.itemType !== 'string'))
    throw invalid(
      `The metadata key "tokenizer.ggml.tokens" is a ${describeValueType(tokens)}; expected an array of string.`,
    )
  return {
    model,
    vocabSize: tokens?.type === 'array' ? tokens.length : 0,
    byteTokens: header.byteTokens,
    bosTokenId: tokenIdFact(metadata, 'tokenizer.ggml.bos_token_id'),
    eosTokenId: tokenIdFact(metadata, 'tokenizer.ggml.eos_token_id'),
    addBosToken: boolFact(metadata, 'tokenizer.ggml.add_bos_token'),
  }
}

function summarize(tensors: readonly GgufTensorInfo[]): GgufTensorSummary {
  const counts = new Map<string, number>()
  let parameters = 0n
  let dataBytes = 0
  for (const tensor of tensors) {
    counts.set(tensor.type.name, (counts.get(tensor.type.name) ?? 0) + 1)
    parameters += BigInt(tensor.elements)
    dataBytes += tensor.bytes
  }
  const types: Record<string, number> = {}
  for (const name of [...counts.keys()].sort()) types[name] = counts.get(name) ?? 0
  return { count: tensors.length, types, parameterCount: Number(parameters), dataBytes }
}

function infoFromHeader(header: GgufHeader): GgufInfo {
  const { metadata } = header
  const architecture = stringFact(metadata, 'general.architecture')
  if (architecture === undefined)
    throw invalid('The GGUF file has no "general.architecture" metadata key.', [
      'Every llama.cpp model names its architecture (llama, qwen2, …); the file is not a model or is corrupted.',
    ])
  if (!architecturePattern.test(architecture))
    throw invalid(
      `general.architecture is ${quoteGgufName(architecture)}; expected 1 to 64 letters, digits, "_", "." or "-".`,
    )
  return {
    version: header.version,
    fileSize: header.fileSize,
    alignment: header.alignment,
    headerBytes: header.headerBytes,
    dataOffset: header.dataOffset,
    architecture,
    name: stringFact(metadata, 'general.name'),
    contextLength: integerFact(metadata, `${architecture}.context_length`),
    embeddingLength: integerFact(metadata, `${architecture}.embedding_length`),
    blockCount: integerFact(metadata, `${architecture}.block_count`),
    fileType: integerFact(metadata, 'general.file_type'),
    chatTemplate: stringFact(metadata, 'tokenizer.chat_template'),
    tokenizer: tokenizerOf(header),
    tensorSummary: summarize(header.tensors),
    tensors: header.tensors,
    metadata,
  }
}

/**
 * Reads what a GGUF (llama.cpp) model declares: format version, architecture, context and
 * embedding lengths, block count, file type, chat template, tokenizer facts and a summary of its
 * tensors, without loading the tensors. The input is untrusted: every count and length is checked
 * against {@link GgufLimits} and against the bytes really present, 64-bit fields are BigInts until
 * checked, and every tensor's data must lie inside the file. Throws `MODEL_TOO_LARGE` for a file
 * over `maxModelBytes` and `MODEL_INVALID` (naming the field, its byte offset and the limit) for
 * anything else. It does not judge whether llama.cpp can run the model: {@link validateGguf} does.
 *
 * Given a `FileHandle` it reads only the header (doubling reads from 1 MiB, never past
 * `maxHeaderBytes`) and returns a promise; given the bytes it answers synchronously.
 *
 * @example
 * ```ts
 * const info = inspectGguf(readFileSync('stories260K.gguf'))
 * info.architecture // 'llama'
 * info.tokenizer?.vocabSize // 512
 * await using handle = await open('big.gguf')
 * const big = await inspectGguf(handle)
 * ```
 */
export function inspectGguf(source: Uint8Array, options?: Partial<GgufLimits>): GgufInfo
export function inspectGguf(source: FileHandle, options?: Partial<GgufLimits>): Promise<GgufInfo>
export function inspectGguf(
  source: Uint8Array | FileHandle,
  options?: Partial<GgufLimits>,
): GgufInfo | Promise<GgufInfo>
export function inspectGguf(
  source: Uint8Array | FileHandle,
  options: Partial<GgufLimits> = {},
): GgufInfo | Promise<GgufInfo> {
  const limits = resolveGgufLimits(options)
  if (source instanceof Uint8Array) return infoFromHeader(readHeader(source, limits))
  if (isFileHandle(source))
    return readHeaderFromFile(source, limits).then((header) => infoFromHeader(header))
  throw new BaseError(
    'INVALID_ARGUMENT',
    'inspectGguf expects the model file as a Uint8Array or a FileHandle (fs/promises open()).',
  )
}
