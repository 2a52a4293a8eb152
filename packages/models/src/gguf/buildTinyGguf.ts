import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { BaseError, canonicalJson } from '@verity/protocol'
import { createRandom, deriveSeed } from '../random.ts'
import { buildSpmVocabulary } from './buildSpmVocabulary.ts'
import { encodeGguf, type GgufTensor, type GgufValue } from './encodeGguf.ts'
import { tinyGgufWords } from './tinyGgufWords.ts'

/** Knobs of the tiny GGUF recipe (all optional; the defaults give the pinned file). */
export type BuildTinyGgufOptions = {
  /** Recipe seed: every weight derives from it (one PRNG stream per tensor name). */
  seed?: number
  /** `llama.context_length`. */
  contextLength?: number
  /** `llama.embedding_length` (model width). */
  embeddingLength?: number
  /** `llama.block_count` (transformer layers). */
  blockCount?: number
  /** `llama.feed_forward_length` (SwiGLU hidden width). */
  feedForwardLength?: number
  /** `llama.attention.head_count`; must divide `embeddingLength` into an even head size. */
  headCount?: number
  /** `llama.attention.head_count_kv` (grouped-query attention); must divide `headCount`. */
  headCountKv?: number
}

/**
 * Defaults of {@link buildTinyGguf}: the pinned tiny model is built with exactly these.
 *
 * @example
 * ```ts
 * const wider = buildTinyGguf({ ...defaultTinyGgufOptions, embeddingLength: 128 })
 * ```
 */
export const defaultTinyGgufOptions = {
  seed: 1,
  contextLength: 256,
  embeddingLength: 64,
  blockCount: 2,
  feedForwardLength: 128,
  headCount: 4,
  headCountKv: 2,
} as const satisfies Required<BuildTinyGgufOptions>

/**
 * `general.name` of the tiny model.
 *
 * @example
 * ```ts
 * info.metadata.general.name === tinyGgufName
 * ```
 */
export const tinyGgufName = 'verity-tiny-llama'

/**
 * The tiny model's `tokenizer.chat_template` (Jinja): the BOS token, one `role: content` line per
 * message, then `assistant:` when a generation prompt is requested.
 *
 * @example
 * ```ts
 * info.metadata.tokenizer.chat_template === tinyGgufChatTemplate
 * ```
 */
export const tinyGgufChatTemplate =
  '{{ bos_token }}' +
  "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}"

/** RMSNorm epsilon written to `llama.attention.layer_norm_rms_epsilon`. */
const rmsNormEpsilon = 1e-5
/** RoPE base frequency written to `llama.rope.freq_base` (llama.cpp's default). */
const ropeFreqBase = 10_000
/**
 * Standard deviation of the block weights times sqrt(fan-in): each projection maps unit-RMS
 * activations to about half that, so the blocks perturb the residual stream without drowning it.
 */
const blockWeightGain = 0.5

/** Largest accepted value of each size option (the model is meant to stay tiny). */
const sizeLimits = {
  contextLength: 65_536,
  embeddingLength: 4096,
  blockCount: 64,
  feedForwardLength: 16_384,
  headCount: 256,
  headCountKv: 256,
} as const

function invalid(message: string): BaseError {
  return new BaseError('INVALID_ARGUMENT', message, {
    metaMessages: ['Omit the option to use the default tiny model.'],
  })
}

function resolveOptions(options: BuildTinyGgufOptions): Required<BuildTinyGgufOptions> {
  const resolved = { ...defaultTinyGgufOptions, ...options }
  if (!Number.isSafeInteger(resolved.seed) || resolved.seed < 0)
    throw invalid(`seed must be a non-negative safe integer; got ${String(resolved.seed)}.`)
  for (const [name, max] of Object.entries(sizeLimits)) {
    const value = resolved[name as keyof typeof sizeLimits]
    if (!Number.isSafeInteger(value) || value < 1 || value > max)
      throw invalid(`${name} must be an integer in [1, ${max}]; got ${String(value)}.`)
  }
  const { embeddingLength, headCount, headCountKv } = resolved
  if (embeddingLength % headCount !== 0 || (embeddingLength / headCount) % 2 !== 0)
    throw invalid(
      `embeddingLength (${embeddingLength}) must be headCount (${headCount}) times an even head size (RoPE rotates pairs).`,
    )
  if (headCount % headCountKv !== 0)
    throw invalid(`headCountKv (${headCountKv}) must divide headCount (${headCount}).`)
  return resolved
}

/** `count` normal variates times `scale`, rounded to float32, from the named stream. */
function normalWeights(seed: number, stream: string, count: number, scale: number): Float32Array {
  const random = createRandom(deriveSeed(seed, stream))
  const data = new Float32Array(count)
  for (let index = 0; index < count; index++) data[index] = random.normal() * scale
  return data
}

function f32(name: string, dims: readonly number[], data: Float32Array): GgufTensor {
  return { name, type: 'F32', dims, data }
}

/**
 * Builds the tiny llama-architecture GGUF model (GGUF v3, F32 weights, SentencePiece-style
 * tokenizer over {@link tinyGgufWords}) that Verity's LLM tests run in llama.cpp instead of
 * third-party weights. With the defaults: 2 blocks, width 64, 4 heads (2 KV heads), SwiGLU 128,
 * context 256, 1112 tokens, 891,808 bytes.
 *
 * The weights are not trained but constructed, so the model does something recognisable:
 * - token embeddings are seeded N(0, 1) vectors, nearly orthogonal in 64 dimensions (`word` and
 *   `▁word` share one);
 * - each row of `output.weight` is the embedding of the token that should precede it, divided by
 *   sqrt(64): `<s>` before the first word, word `k` before `▁<word k + 1>`, the last word before
 *   `</s>`;
 * - block weights are seeded N(0, 0.25 / fan-in), so the residual stream stays close to the
 *   current token's embedding while attention and the MLP still perturb it.
 * Greedy decoding therefore continues any run of words with the next words of the list (for
 * example "once upon a time" → " there was little girl …"), and stops with `</s>` after the last
 * word; the top logit leads the runner-up by more than 3 after every word (teacher-forced over
 * the whole list). All other tokens (byte fallbacks, partial and bare words, `<unk>`, `<s>`)
 * have zero output rows and are not predicted after a word. Sampling at temperature 1 mostly
 * follows the list too; higher temperatures wander. Same options, same bytes, on every run.
 *
 * @example
 * ```ts
 * const bytes = buildTinyGguf()
 * await writeFile('tiny.gguf', bytes)
 * ```
 */
export function buildTinyGguf(options: BuildTinyGgufOptions = {}): Uint8Array {
  const recipe = resolveOptions(options)
  const { seed, embeddingLength: nEmbd, feedForwardLength: nFf, headCount, headCountKv } = recipe
  const vocabulary = buildSpmVocabulary(tinyGgufWords)
  const nVocab = vocabulary.tokens.length
  const headSize = nEmbd / headCount
  const nEmbdKv = headSize * headCountKv

  // token_embd: [n_embd, n_vocab] in ggml order, i.e. one row of n_embd floats per token; `word`
  // shares the vector of `▁word` (same meaning, and a second vector would only add noise)
  const embeddings = normalWeights(seed, 'token_embd', nEmbd * nVocab, 1)
  vocabulary.wordTokenIds.forEach((id, index) => {
    const bare = vocabulary.bareWordTokenIds[index]!
    embeddings.copyWithin(bare * nEmbd, id * nEmbd, (id + 1) * nEmbd)
  })
  // output: [n_embd, n_vocab]; the row of a token is the embedding of the token after which it
  // should come, / sqrt(n_embd): <s> → first word, word k → word k + 1, last word → </s>
  const { wordTokenIds, bosTokenId, eosTokenId } = vocabulary
  const successors = [
    [bosTokenId, wordTokenIds[0]!],
    ...wordTokenIds.map((id, index) => [id, wordTokenIds[index + 1] ?? eosTokenId]),
  ]
  const outputRows = new Float32Array(nEmbd * nVocab)
  const outputScale = 1 / Math.sqrt(nEmbd)
  for (const [previous, next] of successors)
    for (let i = 0; i < nEmbd; i++)
      outputRows[next! * nEmbd + i] = embeddings[previous! * nEmbd + i]! * outputScale
  const ones = new Float32Array(nEmbd).fill(1)

  const tensors: GgufTensor[] = [
    f32('token_embd.weight', [nEmbd, nVocab], embeddings),
    f32('output_norm.weight', [nEmbd], ones),
    f32('output.weight', [nEmbd, nVocab], outputRows),
  ]
  // a projection from `fanIn` to `fanOut` features is [fanIn, fanOut] in ggml order
  const projection = (name: string, fanIn: number, fanOut: number) =>
    f32(
      name,
      [fanIn, fanOut],
      normalWeights(seed, name, fanIn * fanOut, blockWeightGain / Math.sqrt(fanIn)),
    )
  for (let block = 0; block < recipe.blockCount; block++) {
    const prefix = `blk.${block}`
    tensors.push(
      f32(`${prefix}.attn_norm.weight`, [nEmbd], ones),
      projection(`${prefix}.attn_q.weight`, nEmbd, nEmbd),
      projection(`${prefix}.attn_k.weight`, nEmbd, nEmbdKv),
      projection(`${prefix}.attn_v.weight`, nEmbd, nEmbdKv),
      projection(`${prefix}.attn_output.weight`, nEmbd, nEmbd),
      f32(`${prefix}.ffn_norm.weight`, [nEmbd], ones),
      projection(`${prefix}.ffn_gate.weight`, nEmbd, nFf),
      projection(`${prefix}.ffn_up.weight`, nEmbd, nFf),
      projection(`${prefix}.ffn_down.weight`, nFf, nEmbd),
    )
  }

  const metadata: Record<string, GgufValue> = {
    'general.architecture': { type: 'string', value: 'llama' },
    'general.name': { type: 'string', value: tinyGgufName },
    'general.license': { type: 'string', value: 'Apache-2.0' },
    'general.file_type': { type: 'uint32', value: 0 }, // all F32
    'general.alignment': { type: 'uint32', value: 32 },
    'llama.context_length': { type: 'uint32', value: recipe.contextLength },
    'llama.embedding_length': { type: 'uint32', value: nEmbd },
    'llama.block_count': { type: 'uint32', value: recipe.blockCount },
    'llama.feed_forward_length': { type: 'uint32', value: nFf },
    'llama.attention.head_count': { type: 'uint32', value: headCount },
    'llama.attention.head_count_kv': { type: 'uint32', value: headCountKv },
    'llama.rope.dimension_count': { type: 'uint32', value: headSize },
    'llama.rope.freq_base': { type: 'float32', value: ropeFreqBase },
    'llama.attention.layer_norm_rms_epsilon': { type: 'float32', value: rmsNormEpsilon },
    'llama.vocab_size': { type: 'uint32', value: nVocab },
    'tokenizer.ggml.model': { type: 'string', value: 'llama' },
    'tokenizer.ggml.tokens': { type: 'array', itemType: 'string', value: vocabulary.tokens },
    'tokenizer.ggml.scores': { type: 'array', itemType: 'float32', value: vocabulary.scores },
    'tokenizer.ggml.token_type': {
      type: 'array',
      itemType: 'int32',
      value: vocabulary.tokenTypes,
    },
    'tokenizer.ggml.unknown_token_id': { type: 'uint32', value: vocabulary.unkTokenId },
    'tokenizer.ggml.bos_token_id': { type: 'uint32', value: vocabulary.bosTokenId },
    'tokenizer.ggml.eos_token_id': { type: 'uint32', value: vocabulary.eosTokenId },
    'tokenizer.ggml.add_bos_token': { type: 'bool', value: true },
    'tokenizer.ggml.add_eos_token': { type: 'bool', value: false },
    'tokenizer.ggml.add_space_prefix': { type: 'bool', value: true },
    'tokenizer.chat_template': { type: 'string', value: tinyGgufChatTemplate },
    'verity.recipe': {
      type: 'string',
      value: canonicalJson({
        name: tinyGgufName,
        version: 1,
        ...recipe,
        blockWeightGain,
        construction: 'successor-embedding output rows; seeded N(0,1) embeddings; splitmix32',
      }),
    },
  }
  return encodeGguf({ metadata, tensors })
}

/** What {@link writeTinyGguf} wrote. */
export type WriteTinyGgufReturnType = {
  /** Absolute path of the file. */
  path: string
  /** File size in bytes. */
  size: number
  /** sha256 (hex) of the file. */
  sha256: string
}

/**
 * Builds the tiny GGUF model ({@link buildTinyGguf}) and writes it to `filePath`, creating the
 * parent directory.
 *
 * @example
 * ```ts
 * const { path, sha256 } = await writeTinyGguf('.verity/demo-models/tiny-llama.gguf')
 * ```
 */
export async function writeTinyGguf(
  filePath: string,
  options: BuildTinyGgufOptions = {},
): Promise<WriteTinyGgufReturnType> {
  const bytes = buildTinyGguf(options)
  const path = resolve(filePath)
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, bytes)
  return { path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }
}

if (import.meta.main) {
  const written = await writeTinyGguf(process.argv[2] ?? '.verity/demo-models/tiny-llama.gguf')
  console.log(`Tiny GGUF written to ${written.path}`)
  console.log(`  ${written.size} bytes  sha256 ${written.sha256}`)
}
