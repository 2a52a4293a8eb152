import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import {
  type ControlledEvaluateInputItem,
  getLlama,
  JinjaTemplateChatWrapper,
  type Llama,
  LlamaChatSession,
  LlamaCompletion,
  LlamaLogLevel,
  type LlamaModel,
  readGgufFileInfo,
  resolveChatWrapper,
  type Token,
} from 'node-llama-cpp'
import { buildSpmVocabulary } from './buildSpmVocabulary.ts'
import {
  type BuildTinyGgufOptions,
  buildTinyGguf,
  defaultTinyGgufOptions,
  tinyGgufChatTemplate,
  tinyGgufName,
  writeTinyGguf,
} from './buildTinyGguf.ts'
import { tinyGgufWords } from './tinyGgufWords.ts'

/** sha256 of `buildTinyGguf()`: changing the recipe, the word list or the writer changes it. */
const pinnedSha256 = '25db3ab221d517d12914976a9d5b8afe3acb318710e88eefc26d64670d9a65cc'
/** The settings every test runs llama.cpp with (batch size changes outputs: it is pinned). */
const contextOptions = { contextSize: 256, batchSize: 256, threads: 1 } as const

const directory = await mkdtemp(join(tmpdir(), 'verity-tiny-gguf-'))
const defaultBytes = buildTinyGguf()
const defaultPath = join(directory, 'tiny.gguf')
await writeFile(defaultPath, defaultBytes)
const vocabulary = buildSpmVocabulary(tinyGgufWords)

let llamaPromise: Promise<Llama> | undefined
const models: LlamaModel[] = []
after(async () => {
  for (const model of models) await model.dispose()
  if (llamaPromise) await (await llamaPromise).dispose()
  await rm(directory, { recursive: true, force: true })
})

async function loadModel(modelPath = defaultPath): Promise<LlamaModel> {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error })
  const model = await (await llamaPromise).loadModel({ modelPath })
  models.push(model)
  return model
}

/** Greedy completion of `prompt` in a fresh context; returns the text, token ids and stop reason. */
async function complete(model: LlamaModel, prompt: string, options: { maxTokens: number }) {
  const context = await model.createContext(contextOptions)
  try {
    const completion = new LlamaCompletion({ contextSequence: context.getSequence() })
    const tokens: Token[] = []
    const { response, metadata } = await completion.generateCompletionWithMeta(prompt, {
      maxTokens: options.maxTokens,
      temperature: 0,
      onToken: (chunk) => tokens.push(...chunk),
    })
    return { text: response, tokens, stopReason: metadata.stopReason }
  } finally {
    await context.dispose()
  }
}

test('default', async () => {
  const sha256 = createHash('sha256').update(defaultBytes).digest('hex')
  // reproducible to the byte: build again and compare, and against the pinned digest
  assert.equal(createHash('sha256').update(buildTinyGguf()).digest('hex'), sha256)
  assert.equal(sha256, pinnedSha256)
  assert.ok(defaultBytes.length < 1_000_000, `${defaultBytes.length} bytes`)
  // writeTinyGguf writes the same bytes and reports their digest
  const written = await writeTinyGguf(join(directory, 'nested', 'tiny.gguf'))
  assert.deepEqual(written, {
    path: join(directory, 'nested', 'tiny.gguf'),
    size: defaultBytes.length,
    sha256,
  })
  assert.ok(Buffer.from(await readFile(written.path)).equals(defaultBytes))
})

test('behavior: the metadata and tensor infos read back in node-llama-cpp', async () => {
  const info = await readGgufFileInfo(defaultPath, { logWarnings: false })
  const { metadata } = info
  assert.equal(info.version, 3)
  assert.equal(metadata.general.architecture, 'llama')
  assert.equal(metadata.general.name, tinyGgufName)
  assert.equal(metadata.general.file_type, 0)
  assert.equal(metadata.general.alignment, 32)
  const llama = metadata.general.architecture === 'llama' ? metadata.llama : undefined
  assert.deepEqual(
    {
      contextLength: llama?.context_length,
      embeddingLength: llama?.embedding_length,
      blockCount: llama?.block_count,
      feedForwardLength: llama?.feed_forward_length,
      headCount: llama?.attention.head_count,
      headCountKv: llama?.attention.head_count_kv,
      ropeDimensions: llama?.rope?.dimension_count,
    },
    {
      contextLength: 256,
      embeddingLength: 64,
      blockCount: 2,
      feedForwardLength: 128,
      headCount: 4,
      headCountKv: 2,
      ropeDimensions: 16,
    },
  )
  assert.equal(Math.fround(llama?.attention.layer_norm_rms_epsilon ?? 0), Math.fround(1e-5))
  const { tokenizer } = metadata
  assert.equal(tokenizer.ggml.model, 'llama')
  assert.deepEqual(tokenizer.ggml.tokens, vocabulary.tokens)
  assert.deepEqual(tokenizer.ggml.token_type, [...vocabulary.tokenTypes])
  assert.deepEqual(tokenizer.ggml.scores, [...vocabulary.scores])
  assert.equal(tokenizer.ggml.bos_token_id, 1)
  assert.equal(tokenizer.ggml.eos_token_id, 2)
  assert.equal(tokenizer.ggml.unknown_token_id, 0)
  assert.equal(tokenizer.ggml.add_bos_token, true)
  assert.equal(tokenizer.chat_template, tinyGgufChatTemplate)

  const nVocab = vocabulary.tokens.length
  const expectedTensors: [string, number[]][] = [
    ['token_embd.weight', [64, nVocab]],
    ['output_norm.weight', [64]],
    ['output.weight', [64, nVocab]],
  ]
  for (const block of [0, 1])
    expectedTensors.push(
      [`blk.${block}.attn_norm.weight`, [64]],
      [`blk.${block}.attn_q.weight`, [64, 64]],
      [`blk.${block}.attn_k.weight`, [64, 32]],
      [`blk.${block}.attn_v.weight`, [64, 32]],
      [`blk.${block}.attn_output.weight`, [64, 64]],
      [`blk.${block}.ffn_norm.weight`, [64]],
      [`blk.${block}.ffn_gate.weight`, [64, 128]],
      [`blk.${block}.ffn_up.weight`, [64, 128]],
      [`blk.${block}.ffn_down.weight`, [128, 64]],
    )
  assert.deepEqual(
    info.tensorInfo?.map((tensor) => [tensor.name, tensor.dimensions.map(Number)]),
    expectedTensors,
  )
  assert.ok(info.tensorInfo?.every((tensor) => tensor.ggmlType === 0))
})

test('behavior: llama.cpp runs it; greedy decoding continues the word list, the same in every context', async () => {
  const model = await loadModel()
  assert.equal(model.tokens.bos, vocabulary.bosTokenId)
  assert.equal(model.tokens.eos, vocabulary.eosTokenId)
  const first = await complete(model, 'once upon a time', { maxTokens: 16 })
  assert.equal(first.text, tinyGgufWords.slice(4, 20).join(' '))
  assert.deepEqual(first.tokens, vocabulary.wordTokenIds.slice(4, 20))
  assert.equal(first.stopReason, 'maxTokens')
  // a second context, and a second model instance, give the same tokens
  assert.deepEqual(await complete(model, 'once upon a time', { maxTokens: 16 }), first)
  assert.deepEqual(await complete(await loadModel(), 'once upon a time', { maxTokens: 16 }), first)
  // the last word is followed by end of sequence
  const last = await complete(model, 'you today am fine', { maxTokens: 16 })
  assert.deepEqual(last, {
    text: 'thanks',
    tokens: [vocabulary.wordTokenIds.at(-1)],
    stopReason: 'eogToken',
  })
  // text outside the word list still generates deterministically
  const other = await complete(model, 'Zebra, 42!', { maxTokens: 8 })
  assert.equal(other.tokens.length, 8)
  assert.deepEqual(await complete(model, 'Zebra, 42!', { maxTokens: 8 }), other)
})

test('behavior: one teacher-forced pass predicts every next word, then end of sequence', async () => {
  const model = await loadModel()
  const context = await model.createContext(contextOptions)
  try {
    const sequence = context.getSequence()
    const words = model.tokenize(tinyGgufWords.join(' '))
    assert.deepEqual(words, vocabulary.wordTokenIds)
    const input = [model.tokens.bos!, ...words]
    const outputs = await sequence.controlledEvaluate(
      input.map(
        (token): ControlledEvaluateInputItem => [
          token,
          { generateNext: { token: true, probabilities: true } },
        ],
      ),
    )
    assert.deepEqual(
      outputs.map((output) => output?.next.token),
      [...words, vocabulary.eosTokenId],
    )
    // by a wide margin: the top logit leads the runner-up by more than 3 at every position
    const margins = outputs.map((output) => {
      const [first, second] = [...(output?.next.probabilities?.values() ?? [])]
      return Math.log((first ?? 0) / (second ?? 1))
    })
    assert.ok(Math.min(...margins) > 3, `smallest logit margin ${Math.min(...margins)}`)
  } finally {
    await context.dispose()
  }
})

test('behavior: tokenize and detokenize round-trip; each word is one token', async () => {
  const model = await loadModel()
  const sentence = 'the little girl walked to river with her happy dog'
  const tokens = model.tokenize(sentence)
  assert.deepEqual(
    tokens,
    sentence.split(' ').map((word) => vocabulary.wordTokenIds[tinyGgufWords.indexOf(word)]),
  )
  assert.equal(model.detokenize(tokens), sentence)
  // at the start of a text without the space prefix, a word is its bare piece
  const bare = model.tokenize('hello world', false, 'trimLeadingSpace')
  assert.deepEqual(bare, [
    vocabulary.bareWordTokenIds[tinyGgufWords.indexOf('hello')],
    vocabulary.wordTokenIds[tinyGgufWords.indexOf('world')],
  ])
  // anything else falls back to bytes and still round-trips
  const other = 'Hello, World! 42 ünïcode ✓ the end'
  assert.equal(model.detokenize(model.tokenize(other)), other)
})

test('behavior: seeded sampling is reproducible', async () => {
  const model = await loadModel()
  const sample = async (seed: number) => {
    const context = await model.createContext(contextOptions)
    try {
      const completion = new LlamaCompletion({ contextSequence: context.getSequence() })
      return await completion.generateCompletion('once upon a time', {
        maxTokens: 16,
        temperature: 2,
        seed,
      })
    } finally {
      await context.dispose()
    }
  }
  const first = await sample(1)
  assert.equal(await sample(1), first)
  assert.ok(first.length > 0)
  // the distribution is not one-hot: another seed draws other tokens
  assert.notEqual(await sample(2), first)
})

test('behavior: the chat template drives node-llama-cpp chat sessions', async () => {
  const model = await loadModel()
  // node-llama-cpp reads the template from the model and wraps it (resolved once: it is slow)
  const chatWrapper = resolveChatWrapper(model)
  assert.ok(chatWrapper instanceof JinjaTemplateChatWrapper)
  const chat = async () => {
    const context = await model.createContext(contextOptions)
    try {
      const session = new LlamaChatSession({
        contextSequence: context.getSequence(),
        systemPrompt: 'you are kind',
        chatWrapper,
      })
      const answer = await session.prompt('hello world', { maxTokens: 8, temperature: 0 })
      const tokens = session.sequence.contextTokens
      return { answer, text: model.detokenize(tokens, true), tokens: [...tokens] }
    } finally {
      await context.dispose()
    }
  }
  const first = await chat()
  assert.deepEqual(await chat(), first)
  // one BOS (from the template), then the rendered conversation and the answer; node-llama-cpp
  // tokenizes each template chunk on its own, so the SentencePiece space prefix adds a space
  // before each chunk
  assert.equal(first.tokens.filter((token) => token === vocabulary.bosTokenId).length, 1)
  assert.equal(first.tokens[0], vocabulary.bosTokenId)
  assert.match(first.text, /^<s> system: you are kind \nuser: hello world \nassistant: /)
  // the answer is a run of consecutive words of the list
  const words = first.answer.split(' ')
  const start = tinyGgufWords.indexOf(words[0]!)
  assert.ok(start >= 0, first.answer)
  assert.deepEqual(words, tinyGgufWords.slice(start, start + words.length))
})

test('behavior: the size options give other valid models', async () => {
  const options: BuildTinyGgufOptions = {
    seed: 2,
    contextLength: 64,
    embeddingLength: 32,
    blockCount: 1,
    feedForwardLength: 48,
    headCount: 2,
    headCountKv: 1,
  }
  const bytes = buildTinyGguf(options)
  assert.notEqual(
    createHash('sha256').update(bytes).digest('hex'),
    createHash('sha256').update(defaultBytes).digest('hex'),
  )
  assert.ok(bytes.length < defaultBytes.length)
  const path = join(directory, 'small.gguf')
  await writeFile(path, bytes)
  const model = await loadModel(path)
  assert.equal(model.trainContextSize, 64)
  assert.equal(model.embeddingVectorSize, 32)
  const context = await model.createContext({ ...contextOptions, contextSize: 64, batchSize: 64 })
  try {
    const completion = new LlamaCompletion({ contextSequence: context.getSequence() })
    const text = await completion.generateCompletion('once upon', { maxTokens: 4, temperature: 0 })
    assert.equal(text, tinyGgufWords.slice(2, 6).join(' '))
  } finally {
    await context.dispose()
  }
  // the seed alone changes the weights; the explicit defaults are the default model
  assert.ok(!Buffer.from(buildTinyGguf({ seed: 2 })).equals(defaultBytes))
  assert.ok(Buffer.from(buildTinyGguf(defaultTinyGgufOptions)).equals(defaultBytes))
})

test('error: invalid options', () => {
  for (const [options, pattern] of [
    [{ seed: -1 }, /seed must be/],
    [{ blockCount: 0 }, /blockCount must be an integer in \[1, 64\]/],
    [{ contextLength: 1.5 }, /contextLength/],
    [{ embeddingLength: 60 }, /even head size/],
    [{ headCount: 3 }, /even head size/],
    [{ headCountKv: 3 }, /must divide headCount/],
  ] as const)
    assert.throws(
      () => buildTinyGguf(options),
      (error) =>
        isBaseError(error) && error.code === 'INVALID_ARGUMENT' && pattern.test(error.message),
    )
})
