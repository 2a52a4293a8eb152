/**
 * Builds GGUF files in memory. Tests use it to craft valid and hostile files (wrong counts,
 * offsets, types, lengths) without fixture files; tensor data is zeros (none for tensors over
 * 64 MiB).
 */
import { ggmlTypes } from './ggmlTypes.ts'
import { type GgufValueType, ggufValueTypes } from './parseGgufHeader.ts'

/** A metadata value to write; `rawType` overrides the type id written (to write nonsense). */
export type GgufBuildValue = (
  | {
      type: 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64'
      value: number
    }
  | { type: 'uint64' | 'int64'; value: bigint }
  | { type: 'bool'; value: boolean | number }
  | { type: 'string'; value: string | Uint8Array; length?: bigint }
  | { type: 'array'; itemType: GgufValueType; items: GgufBuildValue[]; length?: bigint }
) & { rawType?: number }

export type GgufBuildTensor = {
  name: string
  dims: ReadonlyArray<number | bigint>
  /** ggml type id; default 0 (f32). */
  type?: number
  /** Data offset; default: the running offset, each tensor padded to the alignment. */
  offset?: number | bigint
  /** Written instead of `dims.length`. */
  nDims?: number
}

export type BuildGgufOptions = {
  /** Default 3. */
  version?: number
  /** Default `GGUF`. */
  magic?: string
  metadata: ReadonlyArray<readonly [string, GgufBuildValue]>
  tensors?: readonly GgufBuildTensor[]
  /** Padding of the data section; must match `general.alignment` when it is set. Default 32. */
  alignment?: number
  /** Written instead of the real counts. */
  tensorCount?: bigint
  kvCount?: bigint
  /** Bytes of tensor data to write; default: what the tensors need (padded). */
  dataBytes?: number
}

const utf8 = new TextEncoder()
const maxDataBytes = 1 << 26

class Writer {
  chunks: Uint8Array[] = []
  length = 0
  push(bytes: Uint8Array) {
    this.chunks.push(bytes)
    this.length += bytes.length
  }
  number(size: number, write: (view: DataView) => void) {
    const bytes = new Uint8Array(size)
    write(new DataView(bytes.buffer))
    this.push(bytes)
  }
  u32(value: number) {
    this.number(4, (view) => view.setUint32(0, value, true))
  }
  u64(value: bigint) {
    this.number(8, (view) => view.setBigUint64(0, BigInt.asUintN(64, value), true))
  }
  string(value: string | Uint8Array, length?: bigint) {
    const bytes = typeof value === 'string' ? utf8.encode(value) : value
    this.u64(length ?? BigInt(bytes.length))
    this.push(bytes)
  }
  value(value: GgufBuildValue) {
    switch (value.type) {
      case 'uint8':
        return this.number(1, (view) => view.setUint8(0, value.value))
      case 'int8':
        return this.number(1, (view) => view.setInt8(0, value.value))
      case 'uint16':
        return this.number(2, (view) => view.setUint16(0, value.value, true))
      case 'int16':
        return this.number(2, (view) => view.setInt16(0, value.value, true))
      case 'uint32':
        return this.u32(value.value)
      case 'int32':
        return this.number(4, (view) => view.setInt32(0, value.value, true))
      case 'float32':
        return this.number(4, (view) => view.setFloat32(0, value.value, true))
      case 'float64':
        return this.number(8, (view) => view.setFloat64(0, value.value, true))
      case 'uint64':
        return this.u64(value.value)
      case 'int64':
        return this.number(8, (view) => view.setBigInt64(0, value.value, true))
      case 'bool':
        return this.number(1, (view) => view.setUint8(0, Number(value.value)))
      case 'string':
        return this.string(value.value, value.length)
      case 'array':
        this.u32(ggufValueTypes.indexOf(value.itemType))
        this.u64(value.length ?? BigInt(value.items.length))
        for (const item of value.items) this.value(item)
    }
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length)
    let at = 0
    for (const chunk of this.chunks) {
      out.set(chunk, at)
      at += chunk.length
    }
    return out
  }
}

/** Bytes of a tensor's data (`ggml_nbytes`), for a known type. */
function tensorBytes(tensor: GgufBuildTensor): number {
  const type = ggmlTypes.get(tensor.type ?? 0)
  if (!type) return 0
  const elements = tensor.dims.reduce<number>((product, dim) => product * Number(dim), 1)
  return (elements / type.blockSize) * type.typeSize
}

/**
 * Writes a GGUF file.
 *
 * @example
 * ```ts
 * const bytes = buildGguf({
 *   metadata: [['general.architecture', { type: 'string', value: 'llama' }]],
 *   tensors: [{ name: 'token_embd.weight', dims: [4, 8] }],
 * })
 * ```
 */
export function buildGguf(options: BuildGgufOptions): Uint8Array {
  const alignment = options.alignment ?? 32
  const tensors = options.tensors ?? []
  const writer = new Writer()
  writer.push(utf8.encode(options.magic ?? 'GGUF'))
  writer.u32(options.version ?? 3)
  writer.u64(options.tensorCount ?? BigInt(tensors.length))
  writer.u64(options.kvCount ?? BigInt(options.metadata.length))
  for (const [key, value] of options.metadata) {
    writer.string(key)
    writer.u32(value.rawType ?? ggufValueTypes.indexOf(value.type))
    writer.value(value)
  }
  let offset = 0
  for (const tensor of tensors) {
    writer.string(tensor.name)
    writer.u32(tensor.nDims ?? tensor.dims.length)
    for (const dim of tensor.dims) writer.u64(BigInt(dim))
    writer.u32(tensor.type ?? 0)
    writer.u64(BigInt(tensor.offset ?? offset))
    const size = tensorBytes(tensor)
    // hostile test tensors (exabytes) get an offset but no data
    if (Number.isSafeInteger(size) && size <= maxDataBytes)
      offset += Math.ceil(size / alignment) * alignment
  }
  const padding = (alignment - (writer.length % alignment)) % alignment
  writer.push(new Uint8Array(padding + (options.dataBytes ?? offset)))
  return writer.bytes()
}

/** Shorthands for metadata values. */
export const gguf = {
  string: (value: string): GgufBuildValue => ({ type: 'string', value }),
  u32: (value: number): GgufBuildValue => ({ type: 'uint32', value }),
  f32: (value: number): GgufBuildValue => ({ type: 'float32', value }),
  bool: (value: boolean): GgufBuildValue => ({ type: 'bool', value }),
  strings: (values: readonly string[]): GgufBuildValue => ({
    type: 'array',
    itemType: 'string',
    items: values.map((value) => ({ type: 'string', value })),
  }),
  f32s: (values: readonly number[]): GgufBuildValue => ({
    type: 'array',
    itemType: 'float32',
    items: values.map((value) => ({ type: 'float32', value })),
  }),
  i32s: (values: readonly number[]): GgufBuildValue => ({
    type: 'array',
    itemType: 'int32',
    items: values.map((value) => ({ type: 'int32', value })),
  }),
}

/** The tiny llama's vocabulary: 3 special tokens, the 256 byte tokens, 5 pieces. */
export const tinyLlamaVocabulary: readonly string[] = [
  '<unk>',
  '<s>',
  '</s>',
  ...Array.from({ length: 256 }, (_, i) => `<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`),
  '▁',
  'h',
  'e',
  'l',
  'o',
]

/**
 * A minimal, complete llama-architecture GGUF (1 layer, embedding length 8, 2 heads, feed-forward
 * 16, the 264-token {@link tinyLlamaVocabulary}, context 64, zero weights) as build options to
 * modify in tests. It passes `validateGguf`, and node-llama-cpp 3.21.1 loads it and tokenizes
 * any text with it (its outputs are meaningless: every weight is 0).
 *
 * @example
 * ```ts
 * const bytes = buildGguf(tinyLlamaGguf())
 * ```
 */
export function tinyLlamaGguf(): BuildGgufOptions & {
  metadata: Array<readonly [string, GgufBuildValue]>
  tensors: GgufBuildTensor[]
} {
  const vocab = tinyLlamaVocabulary
  const tokenType = (token: string, i: number) =>
    i === 0 ? 2 : i < 3 ? 3 : token.startsWith('<0x') ? 6 : 1
  const [embedding, feedForward, vocabSize] = [8, 16, vocab.length]
  const layer = (name: string, dims: number[]): GgufBuildTensor => ({
    name: `blk.0.${name}.weight`,
    dims,
  })
  return {
    metadata: [
      ['general.architecture', gguf.string('llama')],
      ['general.name', gguf.string('tiny')],
      ['general.file_type', gguf.u32(0)],
      ['llama.context_length', gguf.u32(64)],
      ['llama.embedding_length', gguf.u32(embedding)],
      ['llama.block_count', gguf.u32(1)],
      ['llama.feed_forward_length', gguf.u32(feedForward)],
      ['llama.attention.head_count', gguf.u32(2)],
      ['llama.attention.head_count_kv', gguf.u32(2)],
      ['llama.rope.dimension_count', gguf.u32(4)],
      ['llama.attention.layer_norm_rms_epsilon', gguf.f32(1e-5)],
      ['tokenizer.ggml.model', gguf.string('llama')],
      ['tokenizer.ggml.tokens', gguf.strings(vocab)],
      ['tokenizer.ggml.scores', gguf.f32s(vocab.map((_, i) => -i))],
      ['tokenizer.ggml.token_type', gguf.i32s(vocab.map(tokenType))],
      ['tokenizer.ggml.bos_token_id', gguf.u32(1)],
      ['tokenizer.ggml.eos_token_id', gguf.u32(2)],
      ['tokenizer.ggml.add_bos_token', gguf.bool(true)],
      [
        'tokenizer.chat_template',
        gguf.string('{% for m in messages %}{{ m.content }}{% endfor %}'),
      ],
    ],
    tensors: [
      { name: 'token_embd.weight', dims: [embedding, vocabSize] },
      { name: 'output_norm.weight', dims: [embedding] },
      { name: 'output.weight', dims: [embedding, vocabSize] },
      layer('attn_norm', [embedding]),
      layer('attn_q', [embedding, embedding]),
      layer('attn_k', [embedding, embedding]),
      layer('attn_v', [embedding, embedding]),
      layer('attn_output', [embedding, embedding]),
      layer('ffn_norm', [embedding]),
      layer('ffn_gate', [embedding, feedForward]),
      layer('ffn_down', [feedForward, embedding]),
      layer('ffn_up', [embedding, feedForward]),
    ],
  }
}
