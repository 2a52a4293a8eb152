import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, type TestContext, test } from 'node:test'
import {
  type ErrorCode,
  hashEngineDescriptor,
  isBaseError,
  type Manifest,
  parseManifest,
} from '@verity/protocol'
import { detectCpuIsa } from '../detectCpuIsa.ts'
import { assetPath, assetsAbsent, readAssetJson } from '../testing/assets.ts'
import { createGgufEngine, type GgufEngine } from './createGgufEngine.ts'
import { llamaRuntimeVersion } from './ggufEngineDescriptor.ts'
import type { GgufEngineOptionsInput } from './ggufEngineOptions.ts'
import type { TextCompletion, TextTokenEvent } from './textEngine.ts'

const modelFile = 'llm/stories260K.gguf'
const referenceFile = 'llm/stories260K_expected_greedy.json'
const prompt = 'Once upon a time'
const id = 'stories260K'

function storiesManifest(
  decoding: Partial<NonNullable<Manifest['gguf']>['decoding']> = {},
  facts: Partial<NonNullable<Manifest['gguf']>> = {},
): Manifest {
  return parseManifest({
    schema: 'verity.manifest/1',
    name: 'stories260k',
    version: '1.0.0',
    format: 'gguf',
    cid: `bafkrei${'a'.repeat(52)}`,
    size: 1_185_376,
    inputs: [{ name: 'prompt', dtype: 'int32', shape: ['tokens'] }],
    outputs: [{ name: 'completion', dtype: 'int32', shape: ['tokens'] }],
    comparison: { kind: 'exact' },
    engine: { name: 'llama.cpp', version: llamaRuntimeVersion().nodeLlamaCpp, settings: {} },
    limits: { maxInputBytes: 1 << 20, maxDim: 2048, timeoutMs: 60_000 },
    license: 'MIT',
    pricing: { perCall: '0' },
    gguf: {
      architecture: 'llama',
      ggufVersion: 3,
      contextLength: 2048,
      embeddingLength: 64,
      blockCount: 5,
      tokenizer: {
        model: 'llama',
        vocabSize: 512,
        bosTokenId: 1,
        eosTokenId: 2,
        addBosToken: true,
      },
      decoding: {
        contextSize: 2048,
        batchSize: 512,
        ubatchSize: 512,
        threads: 1,
        maxTokens: 1024,
        ...decoding,
      },
      ...facts,
    },
  })
}

// stories260K has no chat template: give a copy one, as a `tokenizer.chat_template` entry
// inserted first in the GGUF metadata (padded with a Jinja comment so the tensor data stays
// aligned to the default 32 bytes).
function withChatTemplate(gguf: Uint8Array, template: string): Uint8Array {
  const encoder = new TextEncoder()
  const key = encoder.encode('tokenizer.chat_template')
  const fixed = 8 + key.length + 4 + 8
  let pad = (32 - ((fixed + encoder.encode(template).length) % 32)) % 32
  if (pad > 0 && pad < 5) pad += 32
  const value = encoder.encode(pad > 0 ? `${template}{#${'.'.repeat(pad - 4)}#}` : template)
  const entry = new Uint8Array(fixed + value.length)
  const view = new DataView(entry.buffer)
  view.setBigUint64(0, BigInt(key.length), true)
  entry.set(key, 8)
  view.setUint32(8 + key.length, 8, true) // value type 8: string
  view.setBigUint64(12 + key.length, BigInt(value.length), true)
  entry.set(value, fixed)
  const copy = new Uint8Array(gguf.length + entry.length)
  copy.set(gguf.subarray(0, 24), 0) // magic, version, tensor count, metadata count
  copy.set(entry, 24)
  copy.set(gguf.subarray(24), 24 + entry.length)
  const header = new DataView(copy.buffer)
  header.setBigUint64(16, header.getBigUint64(16, true) + 1n, true)
  return copy
}

function engineFor(t: TestContext, options: GgufEngineOptionsInput = {}): GgufEngine {
  const engine = createGgufEngine(options)
  t.after(() => engine.close())
  return engine
}

// One engine with the model loaded, shared by the tests that only generate (starting a worker
// and loading llama.cpp takes about a second).
let shared: Promise<GgufEngine> | undefined
after(async () => (await shared?.catch(() => undefined))?.close())
function sharedEngine(): Promise<GgufEngine> {
  shared ??= (async () => {
    const engine = createGgufEngine()
    await engine.load({ id, path: assetPath(modelFile)!, manifest: storiesManifest() })
    return engine
  })()
  return shared
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: ErrorCode,
  ...fragments: string[]
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isBaseError(error), `expected a BaseError, got ${String(error)}`)
    assert.equal(error.code, code, error.message)
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), error.message)
    return true
  })
}

test('default', async (t) => {
  const path = assetPath(modelFile)
  const engine = engineFor(t)
  assert.equal(engine.descriptor.name, 'llama.cpp')
  assert.equal(engine.descriptor.version, llamaRuntimeVersion().nodeLlamaCpp)
  assert.match(String(engine.descriptor.settings.llamaCpp), /^ggml-org\/llama\.cpp@/)
  assert.deepEqual(
    {
      gpu: engine.descriptor.settings.gpu,
      isa: engine.descriptor.settings.isa,
      contextSize: engine.descriptor.settings.contextSize,
      batchSize: engine.descriptor.settings.batchSize,
      ubatchSize: engine.descriptor.settings.ubatchSize,
      threads: engine.descriptor.settings.threads,
      kvCacheType: engine.descriptor.settings.kvCacheType,
    },
    {
      gpu: false,
      isa: detectCpuIsa(),
      contextSize: 2048,
      batchSize: 512,
      ubatchSize: 512,
      threads: 1,
      kvCacheType: 'f32',
    },
  )
  assert.equal(engine.settingsHash, hashEngineDescriptor(engine.descriptor))
  // Settings that change tokens change the hash; limits do not appear.
  const otherBatch = engineFor(t, { batchSize: 64, ubatchSize: 64, timeoutMs: 5 })
  assert.notEqual(otherBatch.settingsHash, engine.settingsHash)
  assert.equal(otherBatch.descriptor.settings.timeoutMs, undefined)
  if (!path) return t.skip(assetsAbsent)
  const info = await engine.load({ id, path, manifest: storiesManifest() })
  assert.deepEqual(info, {
    architecture: 'llama',
    vocabSize: 512,
    trainContextSize: 2048,
    contextSize: 2048,
    maxTokens: 1024,
    bosTokenId: 1,
    eosTokenId: 2,
    addBosToken: true,
    chatTemplate: null,
  })
  assert.deepEqual(engine.modelInfo(id), info)
  assert.match(engine.stats().systemInfo ?? '', /^CPU :/)
  // Loading the same file again is a no-op; bytes of the same file are another source.
  assert.deepEqual(await engine.load({ id, path, manifest: storiesManifest() }), info)
  await rejectsWith(
    engine.load({ id, bytes: readFileSync(path), manifest: storiesManifest() }),
    'INVALID_ARGUMENT',
    'already loaded',
  )
})

test('behavior: the greedy continuation of "Once upon a time" is the llama2.c reference, token for token', async (t) => {
  if (!assetPath(modelFile)) return t.skip(assetsAbsent)
  const engine = await sharedEngine()
  const reference = readAssetJson<{ expected_stdout: string }>(referenceFile).expected_stdout
  const referenceTokens = await engine.tokenize({ id, text: reference })
  const promptTokens = await engine.tokenize({ id, text: prompt })
  assert.deepEqual(promptTokens, referenceTokens.slice(0, promptTokens.length))
  const expected = referenceTokens.slice(promptTokens.length)
  assert.ok(expected.length >= 190, `the reference has ${expected.length} tokens after the prompt`)
  const completion = await engine.complete({ id, prompt, maxTokens: expected.length })
  assert.deepEqual(completion.promptTokens, promptTokens)
  assert.deepEqual(completion.tokens, expected)
  assert.equal(prompt + completion.text, reference)
  assert.equal(completion.finishReason, 'length')
  assert.deepEqual(completion.sampling, { temperature: 0, topK: 40, topP: 0.95, minP: 0, seed: 0 })
  assert.deepEqual(completion.usage, {
    promptTokens: promptTokens.length,
    completionTokens: expected.length,
    totalTokens: promptTokens.length + expected.length,
  })
  // A token prompt gives the same tokens.
  const fromTokens = await engine.complete({ id, prompt: promptTokens, maxTokens: 16 })
  assert.deepEqual(fromTokens.tokens, expected.slice(0, 16))
})

test('behavior: the same request gives the same token ids, twice and in another engine', async (t) => {
  const path = assetPath(modelFile)
  if (!path) return t.skip(assetsAbsent)
  const engine = await sharedEngine()
  const other = engineFor(t)
  await other.load({ id, bytes: readFileSync(path), manifest: storiesManifest() })
  const seeded = { id, prompt, maxTokens: 96, temperature: 0.8, seed: 42 }
  const first = await engine.complete(seeded)
  const again = await engine.complete(seeded)
  const elsewhere = await other.complete(seeded)
  assert.deepEqual(again.tokens, first.tokens)
  assert.deepEqual(elsewhere.tokens, first.tokens)
  assert.equal(elsewhere.text, first.text)
  const greedy = await engine.complete({ id, prompt, maxTokens: 96 })
  assert.deepEqual((await other.complete({ id, prompt, maxTokens: 96 })).tokens, greedy.tokens)
  // The seed and the temperature matter.
  assert.notDeepEqual(first.tokens, greedy.tokens)
  assert.notDeepEqual((await engine.complete({ ...seeded, seed: 43 })).tokens, first.tokens)
  assert.equal(other.descriptor.settings.isa, engine.descriptor.settings.isa)
  assert.equal(other.settingsHash, engine.settingsHash)
})

test('behavior: streamed tokens and text equal the result', async (t) => {
  if (!assetPath(modelFile)) return t.skip(assetsAbsent)
  const engine = await sharedEngine()
  for (const request of [
    { id, prompt, maxTokens: 80, temperature: 0.8, seed: 7 },
    { id, prompt, maxTokens: 200, stop: ['ball'] },
  ]) {
    const events: TextTokenEvent[] = []
    const completion = await engine.complete({ ...request, onToken: (event) => events.push(event) })
    assert.deepEqual(
      events.map((event) => event.index),
      completion.tokens.map((_, index) => index),
    )
    assert.deepEqual(
      events.map((event) => event.token),
      completion.tokens,
    )
    assert.equal(events.map((event) => event.text).join(''), completion.text)
    assert.ok(
      completion.timeToFirstTokenMs > 0 && completion.timeToFirstTokenMs <= completion.durationMs,
    )
  }
})

test('behavior: a stop string ends generation before it, and replay agrees', async (t) => {
  if (!assetPath(modelFile)) return t.skip(assetsAbsent)
  const engine = await sharedEngine()
  const stopped = await engine.complete({ id, prompt, maxTokens: 100, stop: ['red ball', 'xyz'] })
  assert.equal(stopped.finishReason, 'stop')
  assert.equal(
    stopped.text,
    ', there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, ',
  )
  assert.deepEqual(stopped.stop, ['red ball', 'xyz'])
  assert.ok(stopped.tokens.length < 100)
  const verdict = await engine.replay({ id, ...stopped })
  assert.deepEqual(
    { ok: verdict.ok, text: verdict.text, finishReason: verdict.finishReason },
    { ok: true, text: stopped.text, finishReason: 'stop' },
  )
})

test('behavior: a JSON schema constrains every token; the output parses, matches and replays by regeneration', async (t) => {
  if (!assetPath(modelFile)) return t.skip(assetsAbsent)
  const engine = await sharedEngine()
  const jsonSchema = {
    type: 'object',
    properties: { happy: { type: 'boolean' }, mood: { enum: ['sad', 'glad'] } },
    required: ['happy', 'mood'],
  }
  const constrained = await engine.complete({ id, prompt, maxTokens: 64, jsonSchema })
  assert.equal(constrained.finishReason, 'stop', constrained.text)
  const value = JSON.parse(constrained.text) as { happy: unknown; mood: unknown }
  assert.deepEqual(Object.keys(value), ['happy', 'mood'])
  assert.equal(typeof value.happy, 'boolean')
  assert.ok(value.mood === 'sad' || value.mood === 'glad')
  assert.deepEqual(constrained.jsonSchema, jsonSchema)
  const again = await engine.complete({ id, prompt, maxTokens: 64, jsonSchema })
  assert.deepEqual(again.tokens, constrained.tokens)
  // The same prompt without the grammar is a story, not JSON.
  const free = await engine.complete({ id, prompt, maxTokens: 16 })
  assert.notEqual(free.text.trim()[0], '{')

  const verdict = await engine.replay({ id, ...constrained })
  assert.deepEqual(
    { ok: verdict.ok, method: verdict.method, text: verdict.text },
    { ok: true, method: 'regeneration', text: constrained.text },
  )
  const tokens = [...constrained.tokens]
  tokens[2] = tokens[2] === 300 ? 301 : 300
  const changed = await engine.replay({ id, ...constrained, tokens })
  assert.equal(changed.ok, false)
  assert.equal(changed.firstMismatch?.index, 2)
  // Replayed without the grammar, the constrained tokens are not what greedy decoding picks.
  const { jsonSchema: _, ...unconstrained } = constrained
  assert.equal((await engine.replay({ id, ...unconstrained })).ok, false)
  // Any JSON object.
  const object = await engine.complete({
    id,
    prompt,
    maxTokens: 48,
    jsonSchema: { type: 'object', additionalProperties: true },
  })
  assert.equal(object.text.trimStart()[0], '{')
  if (object.finishReason === 'stop') assert.equal(typeof JSON.parse(object.text), 'object')
  await rejectsWith(
    engine.complete({ id, prompt, maxTokens: 8, jsonSchema: { type: 'string', pattern: 'a+' } }),
    'INVALID_ARGUMENT',
    '"pattern" is not supported',
  )
})

test('behavior: replay accepts the real output and rejects it with one token changed', async (t) => {
  if (!assetPath(modelFile)) return t.skip(assetsAbsent)
  const engine = await sharedEngine()
  const check = async (completion: TextCompletion) => {
    const verdict = await engine.replay({ id, ...completion })
    assert.equal(verdict.ok, true, JSON.stringify(verdict.firstMismatch))
    assert.equal(verdict.firstMismatch, undefined)
    assert.deepEqual(verdict.nearTies, [])
    assert.equal(verdict.text, completion.text)
    assert.equal(verdict.finishReason, completion.finishReason)
    assert.equal(verdict.checkedTokens, completion.tokens.length)
    const tokens = [...completion.tokens]
    const index = 20
    const actual = tokens[index] === 300 ? 301 : 300
    tokens[index] = actual
    const changed = await engine.replay({ id, ...completion, tokens })
    assert.equal(changed.ok, false)
    assert.deepEqual(changed.firstMismatch, { index, expected: completion.tokens[index], actual })
    // Too long (goes on after maxTokens) and too short (stops without a reason).
    const longer = await engine.replay({ id, ...completion, tokens: [...completion.tokens, 300] })
    assert.deepEqual(longer.firstMismatch, {
      index: completion.tokens.length,
      expected: null,
      actual: 300,
    })
    const shorter = await engine.replay({
      id,
      ...completion,
      tokens: completion.tokens.slice(0, -1),
    })
    assert.deepEqual(shorter.firstMismatch, {
      index: completion.tokens.length - 1,
      expected: completion.tokens.at(-1),
      actual: null,
    })
    // Another seed or temperature is another sampler: the same tokens do not pass.
    const otherSampling = { ...completion.sampling, seed: completion.sampling.seed + 1 }
    if (completion.sampling.temperature > 0)
      assert.equal((await engine.replay({ id, ...completion, sampling: otherSampling })).ok, false)
  }
  await check(await engine.complete({ id, prompt, maxTokens: 128 }))
  await check(await engine.complete({ id, prompt, maxTokens: 128, temperature: 0.8, seed: 42 }))
})

test('behavior: an abort mid-generation answers at once and frees the engine', async (t) => {
  if (!assetPath(modelFile)) return t.skip(assetsAbsent)
  const engine = await sharedEngine()
  const restarts = engine.stats().restarts
  const controller = new AbortController()
  let seen = 0
  const aborted = engine.complete({
    id,
    prompt,
    maxTokens: 1000,
    temperature: 0.8,
    seed: 3,
    signal: controller.signal,
    onToken: () => {
      if (++seen === 5) controller.abort(new Error('client went away'))
    },
  })
  await rejectsWith(aborted, 'ENGINE_ABORTED')
  assert.ok(seen < 1000)
  // The next request runs (after the worker stopped at its next token) and is unaffected.
  const next = await engine.complete({ id, prompt, maxTokens: 32 })
  assert.deepEqual(next.tokens, (await engine.complete({ id, prompt, maxTokens: 32 })).tokens)
  assert.equal(engine.stats().restarts, restarts, 'the worker stopped without being killed')
  // A throwing onToken stops the call too and rejects with what it threw.
  const thrown = new Error('consumer failed')
  await assert.rejects(
    engine.complete({
      id,
      prompt,
      maxTokens: 1000,
      onToken: () => {
        throw thrown
      },
    }),
    (error) => error === thrown,
  )
  // An already-aborted signal never starts.
  await rejectsWith(engine.complete({ id, prompt, signal: AbortSignal.abort() }), 'ENGINE_ABORTED')
})

test('behavior: a timeout stops the call; with no grace the worker is killed and restarted', async (t) => {
  const path = assetPath(modelFile)
  if (!path) return t.skip(assetsAbsent)
  const engine = engineFor(t, { abortGraceMs: 0 })
  await engine.load({ id, path, manifest: storiesManifest() })
  const expected = await engine.complete({ id, prompt, maxTokens: 24 })
  const pid = engine.stats().pid
  await rejectsWith(
    engine.complete({ id, prompt, maxTokens: 1000, timeoutMs: 5 }),
    'ENGINE_TIMEOUT',
    'did not finish within 5 ms',
  )
  const after = await engine.complete({ id, prompt, maxTokens: 24 })
  assert.deepEqual(after.tokens, expected.tokens)
  assert.equal(engine.stats().restarts, 1)
  assert.notEqual(engine.stats().pid, pid)
})

test('behavior: chat without a template continues the joined messages', async (t) => {
  if (!assetPath(modelFile)) return t.skip(assetsAbsent)
  const engine = await sharedEngine()
  const chat = await engine.chat({
    id,
    messages: [{ role: 'user', content: prompt }],
    maxTokens: 40,
  })
  const completion = await engine.complete({ id, prompt, maxTokens: 40 })
  assert.equal(chat.chatTemplate, 'none')
  assert.deepEqual(chat.promptTokens, completion.promptTokens)
  assert.deepEqual(chat.tokens, completion.tokens)
  assert.deepEqual(
    await engine.promptTokens({ id, messages: [{ role: 'user', content: prompt }] }),
    chat.promptTokens,
  )
  assert.deepEqual(await engine.promptTokens({ id, prompt }), completion.promptTokens)
  assert.equal((await engine.replay({ id, ...chat })).ok, true)
  await rejectsWith(
    engine.chat({ id, messages: [{ role: 'robot', content: 'hi' }] as never }),
    'INVALID_ARGUMENT',
    'messages[0].role',
  )
  await rejectsWith(engine.chat({ id, messages: [] }), 'INVALID_ARGUMENT', 'messages')
})

test("behavior: chat renders the model's Jinja template; the result is deterministic and replays", async (t) => {
  const path = assetPath(modelFile)
  if (!path) return t.skip(assetsAbsent)
  const template =
    "{{ bos_token }}{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
  const engine = engineFor(t)
  const info = await engine.load({
    id,
    bytes: withChatTemplate(readFileSync(path), template),
    manifest: storiesManifest(),
  })
  assert.ok(info.chatTemplate?.startsWith(template))
  const messages = [
    { role: 'system', content: 'Tell stories.' },
    { role: 'user', content: prompt },
  ] as const
  const chat = await engine.chat({ id, messages, maxTokens: 24 })
  assert.equal(chat.chatTemplate, 'jinja')
  assert.equal(chat.promptTokens[0], 1)
  // Template text and message contents are tokenized separately (a content never turns into
  // special tokens), so the prompt is not the tokenization of the rendered string as a whole.
  const whole = await engine.tokenize({
    id,
    text: `system: Tell stories.\nuser: ${prompt}\nassistant:`,
  })
  assert.notDeepEqual(chat.promptTokens, whole)
  assert.deepEqual(await engine.promptTokens({ id, messages }), chat.promptTokens)
  assert.deepEqual((await engine.chat({ id, messages, maxTokens: 24 })).tokens, chat.tokens)
  assert.equal((await engine.replay({ id, ...chat })).ok, true)
  const other = await engine.chat({ id, messages: [messages[1]], maxTokens: 24 })
  assert.notDeepEqual(other.promptTokens, chat.promptTokens)
})

test('error: out-of-range parameters, unknown models and prompts beyond the context', async (t) => {
  if (!assetPath(modelFile)) return t.skip(assetsAbsent)
  const engine = await sharedEngine()
  const cases: [Record<string, unknown>, ErrorCode, string][] = [
    [{ maxTokens: 1025 }, 'INVALID_ARGUMENT', 'at most 1024'],
    [{ maxTokens: 0 }, 'INVALID_ARGUMENT', 'maxTokens'],
    [{ temperature: -0.1 }, 'INVALID_ARGUMENT', 'temperature'],
    [{ topP: 0 }, 'INVALID_ARGUMENT', 'topP'],
    [{ topK: 1.5 }, 'INVALID_ARGUMENT', 'topK'],
    [{ seed: 2 ** 32 - 1 }, 'INVALID_ARGUMENT', 'seed'],
    [{ stop: 'x' }, 'INVALID_ARGUMENT', 'stop'],
    [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'INVALID_ARGUMENT', 'at most 4'],
    [{ prompt: [1, 512] }, 'INVALID_ARGUMENT', 'prompt[1]'],
    [{ prompt: [] }, 'INVALID_ARGUMENT', 'empty'],
    [{ timeoutMs: -1 }, 'INVALID_ARGUMENT', 'timeoutMs'],
    [{ id: 'nope' }, 'MODEL_NOT_FOUND', '"nope"'],
    [{ prompt: 'once upon a time '.repeat(600) }, 'TENSOR_TOO_LARGE', 'do not fit the context'],
    [{ prompt: new Array(2040).fill(300), maxTokens: 10 }, 'TENSOR_TOO_LARGE', 'context'],
    [{ prompt: 'x'.repeat((1 << 20) + 1) }, 'TENSOR_TOO_LARGE', 'bytes'],
  ]
  for (const [override, code, fragment] of cases)
    await rejectsWith(
      engine.complete({ id, prompt, maxTokens: 8, ...override } as never),
      code,
      fragment,
    )
  const completion = await engine.complete({ id, prompt, maxTokens: 8 })
  await rejectsWith(
    engine.replay({ id, ...completion, tokens: [1, -1] }),
    'INVALID_ARGUMENT',
    'tokens[1]',
  )
  await rejectsWith(
    engine.replay({ id, ...completion, sampling: { ...completion.sampling, temperature: 3 } }),
    'INVALID_ARGUMENT',
    'temperature',
  )
  // The engine still serves after all of that.
  assert.deepEqual((await engine.complete({ id, prompt, maxTokens: 8 })).tokens, completion.tokens)
})

test('error: corrupt, truncated and missing files; manifests that do not fit', async (t) => {
  const path = assetPath(modelFile)
  if (!path) return t.skip(assetsAbsent)
  const engine = engineFor(t)
  const manifest = storiesManifest()
  const bytes = readFileSync(path)
  await rejectsWith(
    engine.load({ id: 'text', bytes: new TextEncoder().encode('hello world'), manifest }),
    'ENGINE_LOAD_FAILED',
    'not a GGUF file',
  )
  const garbage = new Uint8Array(4096)
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 2_654_435_761) >>> 24
  garbage.set(new TextEncoder().encode('GGUF'), 0)
  await rejectsWith(engine.load({ id: 'garbage', bytes: garbage, manifest }), 'ENGINE_LOAD_FAILED')
  await rejectsWith(
    engine.load({ id: 'truncated', bytes: bytes.subarray(0, bytes.length >> 1), manifest }),
    'ENGINE_LOAD_FAILED',
  )
  await rejectsWith(
    engine.load({ id: 'missing', path: `${path}.missing`, manifest }),
    'FILE_NOT_FOUND',
  )
  await rejectsWith(
    engine.load({ id: 'other', path, manifest: storiesManifest({}, { blockCount: 6 }) }),
    'MANIFEST_INVALID',
    'gguf.blockCount',
  )
  await rejectsWith(
    engine.load({
      id: 'batch',
      path,
      manifest: storiesManifest({ batchSize: 256, ubatchSize: 256 }),
    }),
    'INVALID_ARGUMENT',
    'batchSize 256 (engine: 512)',
  )
  await rejectsWith(
    engine.load({ id: 'onnx', path, manifest: { ...manifest, format: 'onnx' } }),
    'INVALID_ARGUMENT',
    'format "onnx"',
  )
  // None of that left anything behind, and the engine loads and runs the real file.
  assert.deepEqual(engine.stats().models, [])
  await engine.load({ id, bytes, manifest })
  assert.equal((await engine.complete({ id, prompt, maxTokens: 4 })).tokens.length, 4)
  await engine.unload(id)
  await rejectsWith(engine.complete({ id, prompt }), 'MODEL_NOT_FOUND')
  await engine.close()
  await rejectsWith(engine.complete({ id, prompt }), 'ENGINE_CLOSED')
  await rejectsWith(engine.load({ id, path, manifest }), 'ENGINE_CLOSED')
})

test('behavior: replay counts a swap between two almost equally likely tokens as a near tie, within the tolerance', async (t) => {
  const path = assetPath(modelFile)
  if (!path) return t.skip(assetsAbsent)
  // Find, with llama.cpp in this process, the first greedy position whose runner-up is within
  // 0.1 in log-probability of the best token.
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp')
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error })
  t.after(() => llama.dispose())
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 })
  const context = await model.createContext({
    contextSize: 2048,
    batchSize: 512,
    threads: 1,
    flashAttention: false,
    experimentalKvCacheKeyType: 'F32',
    experimentalKvCacheValueType: 'F32',
  })
  const promptTokens = [model.tokens.bos!, ...model.tokenize(prompt, false)]
  const greedy: number[] = []
  let runnerUp: number | undefined
  for await (const { token, probabilities } of context
    .getSequence()
    .evaluateWithMetadata(promptTokens, { probabilities: true }, { temperature: 0 })) {
    greedy.push(token)
    const [first, second] = [...probabilities]
    if (first && second && Math.log(first[1]) - Math.log(second[1]) < 0.1) {
      runnerUp = second[0]
      break
    }
    if (greedy.length === 500) break
  }
  assert.ok(runnerUp !== undefined, 'no close runner-up in 500 tokens')
  const engine = await sharedEngine()
  const completion = await engine.complete({ id, prompt, maxTokens: greedy.length })
  assert.deepEqual(completion.tokens, greedy)
  const index = greedy.length - 1
  const tokens = [...greedy.slice(0, -1), runnerUp]
  const strict = await engine.replay({ id, ...completion, tokens })
  assert.deepEqual(strict.firstMismatch, { index, expected: greedy[index], actual: runnerUp })
  const lenient = engineFor(t, { replayTolerance: 0.2 })
  await lenient.load({ id, path, manifest: storiesManifest() })
  const verdict = await lenient.replay({ id, ...completion, tokens })
  assert.equal(verdict.ok, true)
  assert.deepEqual(verdict.nearTies, [{ index, expected: greedy[index], actual: runnerUp }])
})
