import type { FileHandle } from 'node:fs/promises'
import { BaseError } from '@verity/protocol'
import { type GgufInfo, type GgufTokenizerInfo, inspectGguf } from './inspectGguf.ts'
import {
  describeValueType,
  type GgufLimits,
  type GgufTensorInfo,
  type GgufValueType,
  quoteGgufName,
} from './parseGgufHeader.ts'

export type ValidateGgufOptions = Partial<GgufLimits> & {
  /**
   * Architectures the executing engine runs (`general.architecture` values). When given, every
   * other architecture is refused. The engine package owns this set; the hub only receives it.
   */
  supportedArchitectures?: ReadonlySet<string> | undefined
}

/** A GGUF model llama.cpp can load and Verity can serve: the facts a manifest needs are present. */
export type ValidGgufInfo = GgufInfo & {
  contextLength: number
  embeddingLength: number
  blockCount: number
  tokenizer: GgufTokenizerInfo
}

/** `GGML_MAX_NAME` (64) minus the terminating NUL. */
const maxTensorNameBytes = 63
/** `LLAMA_MAX_LAYERS`. */
const maxLayers = 512
/** Tokenizer models meaning "no vocabulary" in llama.cpp. */
const noVocabulary: ReadonlySet<string> = new Set(['no', 'none'])
/** Keys llama.cpp reads with a fixed type for every architecture (`<arch>` is substituted). */
const typedKeys: ReadonlyArray<readonly [string, GgufValueType, 'required' | 'optional']> = [
  ['<arch>.context_length', 'uint32', 'required'],
  ['<arch>.embedding_length', 'uint32', 'required'],
  ['<arch>.block_count', 'uint32', 'required'],
  ['general.name', 'string', 'optional'],
  ['general.file_type', 'uint32', 'optional'],
  ['tokenizer.ggml.model', 'string', 'required'],
  ['tokenizer.ggml.bos_token_id', 'uint32', 'optional'],
  ['tokenizer.ggml.eos_token_id', 'uint32', 'optional'],
  ['tokenizer.ggml.unknown_token_id', 'uint32', 'optional'],
  ['tokenizer.ggml.seperator_token_id', 'uint32', 'optional'],
  ['tokenizer.ggml.padding_token_id', 'uint32', 'optional'],
  ['tokenizer.ggml.add_bos_token', 'bool', 'optional'],
  ['tokenizer.ggml.add_eos_token', 'bool', 'optional'],
  ['tokenizer.chat_template', 'string', 'optional'],
]
/** Keys some architectures require on top (llama.cpp `llm_load_hparams`). */
const architectureKeys: Readonly<Record<string, ReadonlyArray<readonly [string, GgufValueType]>>> =
  {
    llama: [['attention.layer_norm_rms_epsilon', 'float32']],
  }
const layerPattern = /^blk\.(\d+)\./
const utf8 = new TextEncoder()

/** Structure problems of `info` that would make llama.cpp refuse (or crash on) the file. */
function problemsOf(info: GgufInfo, options: ValidateGgufOptions): string[] {
  const problems: string[] = []
  const { metadata, architecture } = info
  if (
    options.supportedArchitectures !== undefined &&
    !options.supportedArchitectures.has(architecture)
  )
    problems.push(
      `The architecture ${quoteGgufName(architecture)} is not one the engine runs (${[
        ...options.supportedArchitectures,
      ]
        .sort()
        .slice(0, 30)
        .join(', ')}${options.supportedArchitectures.size > 30 ? ', …' : ''}).`,
    )

  // metadata types
  for (const [key, value] of metadata)
    if (value.type === 'array' && value.itemType === 'array')
      problems.push(
        `The metadata key ${quoteGgufName(key)} is an array of arrays, which llama.cpp cannot load.`,
      )
  const wanted = [
    ...typedKeys.map(([key, type, need]) => [key.replace('<arch>', architecture), type, need]),
    ...(architectureKeys[architecture] ?? []).map(([suffix, type]) => [
      `${architecture}.${suffix}`,
      type,
      'required',
    ]),
  ] as Array<[string, GgufValueType, 'required' | 'optional']>
  for (const [key, type, need] of wanted) {
    const value = metadata.get(key)
    if (value === undefined) {
      if (need === 'required')
        problems.push(
          `The metadata key ${quoteGgufName(key)} (a ${type}) is missing; llama.cpp requires it for ${quoteGgufName(architecture)} models.`,
        )
    } else if (value.type !== type)
      problems.push(
        `The metadata key ${quoteGgufName(key)} is a ${describeValueType(value)}; llama.cpp reads it as a ${type} and refuses other types.`,
      )
  }
  for (const [key, value] of [
    ['context_length', info.contextLength],
    ['embedding_length', info.embeddingLength],
    ['block_count', info.blockCount],
  ] as const)
    if (value === 0) problems.push(`${architecture}.${key} is 0; it must be at least 1.`)
  if (info.blockCount !== undefined && info.blockCount > maxLayers)
    problems.push(
      `${architecture}.block_count is ${info.blockCount}; llama.cpp supports at most ${maxLayers} layers.`,
    )

  // tokenizer
  const tokenizer = info.tokenizer
  if (tokenizer !== undefined) {
    if (noVocabulary.has(tokenizer.model))
      problems.push(
        `The tokenizer model is ${quoteGgufName(tokenizer.model)}: the file has no vocabulary, so it cannot turn text into tokens.`,
      )
    else if (tokenizer.vocabSize === 0)
      problems.push(
        'The metadata key "tokenizer.ggml.tokens" (the vocabulary, an array of string) is missing or empty.',
      )
    else if (tokenizer.model === 'llama' && tokenizer.byteTokens < 256)
      problems.push(
        `The SentencePiece ("llama") vocabulary has byte tokens (<0x00> … <0xFF>) for ${tokenizer.byteTokens} of the 256 byte values; llama.cpp aborts the process when it tokenizes a character it cannot spell with them.`,
      )
    for (const [key, itemType] of [
      ['tokenizer.ggml.scores', 'float32'],
      ['tokenizer.ggml.token_type', 'int32'],
    ] as const) {
      const value = metadata.get(key)
      if (value === undefined) continue
      if (value.type !== 'array' || value.itemType !== itemType)
        problems.push(
          `The metadata key ${quoteGgufName(key)} is a ${describeValueType(value)}; llama.cpp reads it as an array of ${itemType}.`,
        )
      else if (value.length !== tokenizer.vocabSize)
        problems.push(
          `The metadata key ${quoteGgufName(key)} has ${value.length} items but the vocabulary has ${tokenizer.vocabSize} tokens; llama.cpp would read past its end.`,
        )
    }
    if (tokenizer.model === 'gpt2') {
      const merges = metadata.get('tokenizer.ggml.merges')
      if (merges === undefined || merges.type !== 'array' || merges.itemType !== 'string')
        problems.push(
          `A "gpt2" (BPE) tokenizer needs "tokenizer.ggml.merges" as an array of string; found ${merges === undefined ? 'nothing' : describeValueType(merges)}.`,
        )
    }
    for (const [field, id] of [
      ['bos', tokenizer.bosTokenId],
      ['eos', tokenizer.eosTokenId],
    ] as const)
      if (id !== undefined && tokenizer.vocabSize > 0 && id >= tokenizer.vocabSize)
        problems.push(
          `tokenizer.ggml.${field}_token_id is ${id}, outside the vocabulary of ${tokenizer.vocabSize} tokens.`,
        )
  }

  // tensors
  if (info.tensors.length === 0) problems.push('The file declares no tensors.')
  let expected = 0
  let layoutReported = false
  for (const tensor of info.tensors) {
    const label = `Tensor ${quoteGgufName(tensor.name)}`
    const nameBytes = utf8.encode(tensor.name).length
    if (nameBytes > maxTensorNameBytes)
      problems.push(
        `${label} has a ${nameBytes}-byte name; llama.cpp allows at most ${maxTensorNameBytes} bytes.`,
      )
    if (!layoutReported && tensor.offset !== expected) {
      layoutReported = true
      problems.push(
        tensor.offset % info.alignment !== 0
          ? `${label} starts at data offset ${tensor.offset}, which is not a multiple of the alignment ${info.alignment}.`
          : `${label} starts at data offset ${tensor.offset}; llama.cpp expects ${expected} (tensors stored in header order, each padded to ${info.alignment} bytes).`,
      )
    }
    expected += Math.ceil(tensor.bytes / info.alignment) * info.alignment
    const layer = layerPattern.exec(tensor.name)?.[1]
    if (layer !== undefined && info.blockCount !== undefined && Number(layer) >= info.blockCount)
      problems.push(
        `${label} belongs to layer ${layer} but ${architecture}.block_count is ${info.blockCount}; llama.cpp would refuse the unexpected tensor.`,
      )
  }
  const byName = new Map(info.tensors.map((tensor) => [tensor.name, tensor]))
  if (!byName.has('token_embd.weight'))
    problems.push('The tensor "token_embd.weight" (the token embeddings) is missing.')
  else if (tokenizer !== undefined && info.embeddingLength !== undefined)
    checkShape(
      byName,
      'token_embd.weight',
      [info.embeddingLength, tokenizer.vocabSize],
      '(embedding length, vocabulary size)',
      problems,
    )
  if (architecture === 'llama') problems.push(...llamaTensorProblems(info, byName))
  return problems
}

/** Dims as ggml sees them: 4 of them, missing ones 1. */
function ne(dims: readonly number[]): number[] {
  return [0, 1, 2, 3].map((i) => dims[i] ?? 1)
}

/** Adds a problem when tensor `name` exists with a shape other than `expected` (ggml rules). */
function checkShape(
  tensors: ReadonlyMap<string, GgufTensorInfo>,
  name: string,
  expected: readonly number[],
  meaning: string,
  problems: string[],
): void {
  const tensor = tensors.get(name)
  if (tensor === undefined) return
  const [a, b] = [ne(tensor.dims), ne(expected)]
  if (a.some((dim, i) => dim !== b[i]))
    problems.push(
      `The tensor ${quoteGgufName(name)} has dims [${tensor.dims.join(', ')}]; llama.cpp expects [${expected.join(', ')}] ${meaning}.`,
    )
}

/** A uint32 hyperparameter, `undefined` when absent or stored otherwise (e.g. per layer). */
function u32(metadata: GgufInfo['metadata'], key: string): number | undefined {
  const value = metadata.get(key)
  return value?.type === 'uint32' ? value.value : undefined
}

/**
 * The tensors of a dense `llama` model, with the shapes llama.cpp's loader creates them with
 * (`llama-model.cpp`, LLM_ARCH_LLAMA). A shape mismatch is refused by llama.cpp, but a quantized
 * one can abort node-llama-cpp's memory simulation (GGML_ASSERT) before that, so it is caught here.
 * Mixture-of-experts llama files (`llama.expert_count` > 0) only get their attention checked.
 */
function llamaTensorProblems(
  info: GgufInfo,
  tensors: ReadonlyMap<string, GgufTensorInfo>,
): string[] {
  const problems: string[] = []
  const { metadata, embeddingLength: embd, blockCount: layers, tokenizer } = info
  if (embd === undefined || layers === undefined || layers > maxLayers || !tokenizer)
    return problems
  const check = (name: string, expected: number[], meaning: string) =>
    checkShape(tensors, name, expected, meaning, problems)
  const require = (name: string) => {
    if (!tensors.has(name)) problems.push(`The tensor ${quoteGgufName(name)} is missing.`)
  }
  require('output_norm.weight')
  check('output_norm.weight', [embd], '(embedding length)')
  check('output.weight', [embd, tokenizer.vocabSize], '(embedding length, vocabulary size)')
  const heads = u32(metadata, 'llama.attention.head_count')
  const kvHeads = u32(metadata, 'llama.attention.head_count_kv') ?? heads
  const headK =
    u32(metadata, 'llama.attention.key_length') ?? (heads ? Math.floor(embd / heads) : undefined)
  const headV =
    u32(metadata, 'llama.attention.value_length') ?? (heads ? Math.floor(embd / heads) : undefined)
  const feedForward = u32(metadata, 'llama.feed_forward_length')
  const dense = (u32(metadata, 'llama.expert_count') ?? 0) === 0
  for (let layer = 0; layer < layers && problems.length < 20; layer++) {
    const at = (part: string) => `blk.${layer}.${part}.weight`
    for (const part of ['attn_norm', 'attn_output', 'ffn_norm']) require(at(part))
    if (!tensors.has(at('attn_qkv')))
      for (const part of ['attn_q', 'attn_k', 'attn_v']) require(at(part))
    check(at('attn_norm'), [embd], '(embedding length)')
    check(at('ffn_norm'), [embd], '(embedding length)')
    if (heads && kvHeads && headK && headV) {
      check(at('attn_q'), [embd, headK * heads], '(embedding length, heads × key length)')
      check(at('attn_k'), [embd, headK * kvHeads], '(embedding length, KV heads × key length)')
      check(at('attn_v'), [embd, headV * kvHeads], '(embedding length, KV heads × value length)')
      check(at('attn_output'), [headK * heads, embd], '(heads × key length, embedding length)')
    }
    if (dense) {
      for (const part of ['ffn_gate', 'ffn_down', 'ffn_up']) require(at(part))
      if (feedForward) {
        check(at('ffn_gate'), [embd, feedForward], '(embedding length, feed-forward length)')
        check(at('ffn_down'), [feedForward, embd], '(feed-forward length, embedding length)')
        check(at('ffn_up'), [embd, feedForward], '(embedding length, feed-forward length)')
      }
    }
  }
  return problems
}

function check(info: GgufInfo, options: ValidateGgufOptions): ValidGgufInfo {
  const problems = problemsOf(info, options)
  const [first, ...rest] = problems
  if (first !== undefined)
    throw new BaseError('MODEL_INVALID', first, {
      metaMessages: [
        ...rest.slice(0, 20),
        ...(rest.length > 20 ? [`… and ${rest.length - 20} more problems.`] : []),
        'llama.cpp could not load this file as a text-generation model. Convert the original model again with a current llama.cpp (convert_hf_to_gguf.py).',
      ],
    })
  return info as ValidGgufInfo
}

/**
 * Checks that llama.cpp could load a GGUF file as a text-generation model and that it has what a
 * Verity manifest needs, on top of {@link inspectGguf}'s structural checks: no nested arrays, the
 * keys llama.cpp requires with the exact types it reads (`<arch>.context_length`,
 * `<arch>.embedding_length`, `<arch>.block_count` as uint32, per-architecture keys, special token
 * ids), a vocabulary whose scores and token types match it in length, tensors laid out as
 * llama.cpp expects (in header order, each at the running offset padded to the alignment),
 * tensor names of at most 63 bytes, layers within `block_count`, `token_embd.weight` shaped
 * `[embedding length, vocabulary size]`, all 256 byte tokens in a SentencePiece vocabulary, and
 * for `llama` models every tensor llama.cpp requires, in the shape it expects. Throws `MODEL_INVALID` with the first problem as message
 * and the others as hints, or `MODEL_TOO_LARGE`.
 *
 * Whether the engine's llama.cpp build knows the architecture is its call: pass
 * `supportedArchitectures`, or trial-load the model (the store's `admit` hook).
 *
 * @example
 * ```ts
 * const info = validateGguf(readFileSync('stories260K.gguf'))
 * info.contextLength // 2048
 * ```
 */
export function validateGguf(source: Uint8Array, options?: ValidateGgufOptions): ValidGgufInfo
export function validateGguf(
  source: FileHandle,
  options?: ValidateGgufOptions,
): Promise<ValidGgufInfo>
export function validateGguf(
  source: Uint8Array | FileHandle,
  options: ValidateGgufOptions = {},
): ValidGgufInfo | Promise<ValidGgufInfo> {
  if (source instanceof Uint8Array) return check(inspectGguf(source, options), options)
  return inspectGguf(source, options).then((info) => check(info, options))
}
