import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { isBaseError } from '@verity/protocol'
import {
  type BuildGgufOptions,
  buildGguf,
  type GgufBuildTensor,
  type GgufBuildValue,
  gguf,
  tinyLlamaGguf,
  tinyLlamaVocabulary,
} from './buildGguf.ts'
import { validateGguf } from './validateGguf.ts'

const stories = fileURLToPath(
  new URL('../../../../../shared/assets/llm/stories260K.gguf', import.meta.url),
)
const skipStories = existsSync(stories) ? false : `${stories} absent (…/shared/assets absent)`

/** The tiny llama with metadata entries replaced (`undefined` removes one) and options merged. */
function tiny(
  entries: ReadonlyArray<readonly [string, GgufBuildValue | undefined]> = [],
  more: Partial<BuildGgufOptions> = {},
): Uint8Array {
  const options = tinyLlamaGguf()
  let metadata = [...options.metadata]
  for (const [key, value] of entries) {
    metadata = metadata.filter(([name]) => name !== key)
    if (value !== undefined) metadata.push([key, value])
  }
  return buildGguf({ ...options, metadata, ...more })
}

function withTensors(tensors: GgufBuildTensor[]): Uint8Array {
  return tiny([], { tensors, dataBytes: 65_536 })
}

/** Asserts MODEL_INVALID whose message or hints match `pattern`. */
function assertRefused(bytes: Uint8Array, pattern: RegExp, options = {}): void {
  assert.throws(
    () => validateGguf(bytes, options),
    (error: unknown) => {
      assert.ok(isBaseError(error, 'MODEL_INVALID'), String(error))
      assert.match([error.shortMessage, ...error.metaMessages].join('\n'), pattern)
      return true
    },
  )
}

describe('validateGguf', () => {
  test('default', { skip: skipStories }, () => {
    const info = validateGguf(readFileSync(stories))
    assert.equal(info.architecture, 'llama')
    assert.equal(info.contextLength, 2048)
    assert.equal(info.embeddingLength, 64)
    assert.equal(info.blockCount, 5)
    assert.equal(info.tokenizer.vocabSize, 512)
    assert.equal(info.tokenizer.model, 'llama')
  })

  test('behavior: the synthetic tiny llama passes, from bytes and from a FileHandle', async () => {
    const bytes = tiny()
    const info = validateGguf(bytes)
    assert.equal(info.tokenizer.vocabSize, 264)
    assert.equal(info.contextLength, 64)
    if (skipStories) return
    const handle = await open(stories)
    try {
      assert.equal((await validateGguf(handle)).tokenizer.vocabSize, 512)
    } finally {
      await handle.close()
    }
  })

  test('behavior: supportedArchitectures restricts the architecture', () => {
    const bytes = tiny()
    assert.equal(
      validateGguf(bytes, { supportedArchitectures: new Set(['llama', 'qwen2']) }).architecture,
      'llama',
    )
    assertRefused(bytes, /"llama" is not one the engine runs \(gemma, qwen2\)/, {
      supportedArchitectures: new Set(['qwen2', 'gemma']),
    })
  })

  test('error: inspect errors pass through (limits, structure)', () => {
    assert.throws(
      () => validateGguf(tiny(), { maxModelBytes: 10 }),
      (error: unknown) => isBaseError(error, 'MODEL_TOO_LARGE'),
    )
    assertRefused(tiny([], { version: 1 }), /version is 1/)
  })

  test('error: keys llama.cpp requires, with the types it reads', () => {
    const cases: Array<[string, GgufBuildValue | undefined, RegExp]> = [
      ['llama.context_length', undefined, /"llama.context_length" \(a uint32\) is missing/],
      ['llama.embedding_length', undefined, /"llama.embedding_length" \(a uint32\) is missing/],
      ['llama.block_count', undefined, /"llama.block_count" \(a uint32\) is missing/],
      [
        'llama.attention.layer_norm_rms_epsilon',
        undefined,
        /"llama.attention.layer_norm_rms_epsilon" \(a float32\) is missing/,
      ],
      [
        'llama.context_length',
        { type: 'uint64', value: 64n },
        /"llama.context_length" is a uint64; llama.cpp reads it as a uint32/,
      ],
      ['llama.context_length', gguf.u32(0), /llama.context_length is 0/],
      ['llama.block_count', gguf.u32(513), /block_count is 513; llama.cpp supports at most 512/],
      ['general.file_type', gguf.string('F32'), /"general.file_type" is a string/],
      [
        'tokenizer.ggml.bos_token_id',
        { type: 'int32', value: 1 },
        /"tokenizer.ggml.bos_token_id" is a int32; llama.cpp reads it as a uint32/,
      ],
      ['tokenizer.ggml.model', undefined, /"tokenizer.ggml.model" \(a string\) is missing/],
      [
        'tokenizer.ggml.model',
        gguf.string('none'),
        /tokenizer model is "none": the file has no vocabulary/,
      ],
      ['tokenizer.ggml.tokens', undefined, /"tokenizer.ggml.tokens" .* is missing or empty/],
      [
        'tokenizer.ggml.scores',
        gguf.f32s([1, 2, 3]),
        /"tokenizer.ggml.scores" has 3 items but the vocabulary has 264 tokens/,
      ],
      [
        'tokenizer.ggml.token_type',
        gguf.f32s(Array.from({ length: 264 }, () => 1)),
        /"tokenizer.ggml.token_type" is a array of float32; llama.cpp reads it as an array of int32/,
      ],
      [
        'tokenizer.ggml.eos_token_id',
        gguf.u32(264),
        /eos_token_id is 264, outside the vocabulary of 264/,
      ],
      [
        'x.nested',
        { type: 'array', itemType: 'array', items: [gguf.i32s([1])] },
        /"x.nested" is an array of arrays, which llama.cpp cannot load/,
      ],
    ]
    for (const [key, value, pattern] of cases) assertRefused(tiny([[key, value]]), pattern)
    // a BPE tokenizer needs merges
    assertRefused(
      tiny([['tokenizer.ggml.model', gguf.string('gpt2')]]),
      /"gpt2" \(BPE\) tokenizer needs "tokenizer.ggml.merges"/,
    )
    assert.equal(
      validateGguf(
        tiny([
          ['tokenizer.ggml.model', gguf.string('gpt2')],
          ['tokenizer.ggml.merges', gguf.strings(['t 1'])],
        ]),
      ).tokenizer.model,
      'gpt2',
    )
  })

  test('error: every problem is listed, the first as the message', () => {
    assert.throws(
      () =>
        validateGguf(
          tiny([
            ['llama.context_length', undefined],
            ['llama.block_count', { type: 'uint64', value: 1n }],
          ]),
        ),
      (error: unknown) =>
        isBaseError(error, 'MODEL_INVALID') &&
        /context_length/.test(error.shortMessage) &&
        error.metaMessages.some((line) => /"llama.block_count" is a uint64/.test(line)) &&
        error.metaMessages.some((line) => /convert_hf_to_gguf/.test(line)),
    )
  })

  test('error: tensor layout, names and shapes llama.cpp refuses', () => {
    const base = tinyLlamaGguf().tensors
    assertRefused(
      withTensors([
        base[0] as GgufBuildTensor,
        { name: 'output_norm.weight', dims: [8], offset: 8452 },
      ]),
      /"output_norm.weight" starts at data offset 8452, which is not a multiple of the alignment 32/,
    )
    assertRefused(
      withTensors([
        { name: 'output_norm.weight', dims: [8], offset: 512 },
        base[0] as GgufBuildTensor,
      ]),
      /"output_norm.weight" starts at data offset 512; llama.cpp expects 0/,
    )
    assertRefused(
      withTensors([...base, { name: `blk.0.${'x'.repeat(60)}`, dims: [8] }]),
      /has a 66-byte name; llama.cpp allows at most 63 bytes/,
    )
    assertRefused(
      withTensors([...base, { name: 'blk.1.attn_q.weight', dims: [8, 8] }]),
      /"blk.1.attn_q.weight" belongs to layer 1 but llama.block_count is 1/,
    )
    assertRefused(withTensors(base.slice(1)), /"token_embd.weight" .* is missing/)
    assertRefused(
      withTensors([{ name: 'token_embd.weight', dims: [8, 263] }, ...base.slice(1)]),
      /"token_embd.weight" has dims \[8, 263\]; llama.cpp expects \[8, 264\]/,
    )
    assertRefused(withTensors([]), /declares no tensors/)
  })

  test('error: llama tensors missing or in the wrong shape', () => {
    const base = tinyLlamaGguf().tensors
    const replace = (name: string, tensor: GgufBuildTensor | undefined) =>
      withTensors(
        base.flatMap((t) => (t.name === name ? (tensor === undefined ? [] : [tensor]) : [t])),
      )
    assertRefused(replace('blk.0.ffn_up.weight', undefined), /"blk.0.ffn_up.weight" is missing/)
    assertRefused(replace('output_norm.weight', undefined), /"output_norm.weight" is missing/)
    assertRefused(replace('blk.0.attn_k.weight', undefined), /"blk.0.attn_k.weight" is missing/)
    // a q8_0 attn_q of the wrong shape aborts node-llama-cpp 3.21.1 (GGML_ASSERT in its memory
    // simulation) instead of being refused
    assertRefused(
      replace('blk.0.attn_q.weight', { name: 'blk.0.attn_q.weight', dims: [32, 8], type: 8 }),
      /"blk.0.attn_q.weight" has dims \[32, 8\]; llama.cpp expects \[8, 8\] \(embedding length, heads × key length\)/,
    )
    assertRefused(
      replace('blk.0.ffn_down.weight', { name: 'blk.0.ffn_down.weight', dims: [8, 16] }),
      /"blk.0.ffn_down.weight" has dims \[8, 16\]; llama.cpp expects \[16, 8\]/,
    )
    assertRefused(
      replace('output.weight', { name: 'output.weight', dims: [8, 263] }),
      /"output.weight" has dims \[8, 263\]/,
    )
    // grouped-query attention: 1 KV head makes attn_k 8 × 4
    assertRefused(
      tiny([['llama.attention.head_count_kv', gguf.u32(1)]]),
      /"blk.0.attn_k.weight" has dims \[8, 8\]; llama.cpp expects \[8, 4\]/,
    )
    // ggml pads shapes with 1s, as llama.cpp compares them; output.weight is optional (tied)
    assert.equal(
      validateGguf(
        replace('blk.0.attn_norm.weight', { name: 'blk.0.attn_norm.weight', dims: [8, 1] }),
      ).architecture,
      'llama',
    )
    assert.equal(validateGguf(replace('output.weight', undefined)).architecture, 'llama')
  })

  test('error: a SentencePiece vocabulary without all 256 byte tokens', () => {
    const vocabulary = [...tinyLlamaVocabulary]
    vocabulary[3 + 0x41] = 'A' // the byte itself also spells byte 0x41
    assert.equal(
      validateGguf(tiny([['tokenizer.ggml.tokens', gguf.strings(vocabulary)]])).tokenizer
        .byteTokens,
      256,
    )
    vocabulary[3 + 0x41] = 'AA'
    assertRefused(
      tiny([['tokenizer.ggml.tokens', gguf.strings(vocabulary)]]),
      /byte tokens \(<0x00> … <0xFF>\) for 255 of the 256 byte values/,
    )
    vocabulary[3 + 0x0a] = '<0x0a>' // lowercase hex is not what llama.cpp looks up
    assertRefused(tiny([['tokenizer.ggml.tokens', gguf.strings(vocabulary)]]), /for 254 of the 256/)
  })
})
