import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { canonicalJson, type ErrorCode, isBaseError, parseManifest } from '@verity/protocol'
import { computeCid } from '../computeCid.ts'
import { buildGguf, gguf, tinyLlamaGguf } from './buildGguf.ts'
import {
  createGgufManifest,
  defaultGgufDecoding,
  llamaCppEngineDescriptor,
  llamaCppEngineVersion,
} from './createGgufManifest.ts'
import { inspectGguf } from './inspectGguf.ts'
import { validateGguf } from './validateGguf.ts'

const stories = fileURLToPath(
  new URL('../../../../../shared/assets/llm/stories260K.gguf', import.meta.url),
)
const skipStories = existsSync(stories) ? false : `${stories} absent (…/shared/assets absent)`
const nodeLlamaCppPackage = fileURLToPath(
  new URL('../../../../node_modules/node-llama-cpp/package.json', import.meta.url),
)
/** `ipfs add --cid-version=1` of stories260K.gguf: 4 raw 256 KiB leaves + 1 of 136800 bytes. */
const storiesCid = 'bafybeiatwpy6miidvwxi2klvvabcgj4raczu7er7fe3phd3pqs2tr2kmoe'
/** Any CIDv1 (the empty file's): createGgufManifest records the CID it is given, it does not hash. */
const tinyCid = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'

function assertRefused(run: () => unknown, code: ErrorCode, pattern: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(isBaseError(error, code), String(error))
    assert.match([error.shortMessage, ...error.metaMessages].join('\n'), pattern)
    return true
  })
}

describe('createGgufManifest', () => {
  test('default', { skip: skipStories }, async () => {
    const bytes = readFileSync(stories)
    const cid = await computeCid(bytes)
    assert.equal(cid, storiesCid)
    const manifest = createGgufManifest({
      bytes,
      cid,
      name: 'stories260k',
      license: 'MIT',
      description: 'TinyStories 260K (llama2.c), GGUF',
    })
    assert.deepEqual(parseManifest(JSON.parse(canonicalJson(manifest))), manifest)
    assert.deepEqual(manifest, {
      schema: 'verity.manifest/1',
      name: 'stories260k',
      version: '1.0.0',
      description: 'TinyStories 260K (llama2.c), GGUF',
      format: 'gguf',
      cid: storiesCid,
      size: 1_185_376,
      inputs: [{ name: 'prompt_tokens', dtype: 'int32', shape: ['n'] }],
      outputs: [{ name: 'tokens', dtype: 'int32', shape: ['m'] }],
      comparison: { kind: 'exact' },
      engine: {
        name: 'llama.cpp',
        version: llamaCppEngineVersion,
        settings: { threads: 1, batchSize: 512, ubatchSize: 512, contextSize: 2048, gpu: false },
      },
      limits: { maxInputBytes: 16 * 1024 * 1024, maxDim: 2048, timeoutMs: 30_000 },
      license: 'MIT',
      pricing: { perCall: '0' },
      gguf: {
        architecture: 'llama',
        ggufVersion: 3,
        contextLength: 2048,
        embeddingLength: 64,
        blockCount: 5,
        tokenizer: { model: 'llama', vocabSize: 512, bosTokenId: 1, eosTokenId: 2 },
        decoding: {
          contextSize: 2048,
          batchSize: 512,
          ubatchSize: 512,
          threads: 1,
          maxTokens: 512,
        },
      },
    })
  })

  test('behavior: the manifest is byte-identical in another process', {
    skip: skipStories,
  }, async () => {
    const bytes = readFileSync(stories)
    const here = canonicalJson(
      createGgufManifest({ bytes, cid: await computeCid(bytes), name: 'stories260k' }),
    )
    const moduleUrl = new URL('./createGgufManifest.ts', import.meta.url).href
    const cidUrl = new URL('../computeCid.ts', import.meta.url).href
    const protocolUrl = import.meta.resolve('@verity/protocol')
    const script = `
      import { readFileSync } from 'node:fs'
      import { canonicalJson } from '${protocolUrl}'
      import { computeCid } from '${cidUrl}'
      import { createGgufManifest } from '${moduleUrl}'
      const bytes = readFileSync(${JSON.stringify(stories)})
      const manifest = createGgufManifest({ bytes, cid: await computeCid(bytes), name: 'stories260k' })
      process.stdout.write(canonicalJson(manifest))`
    const there = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
    })
    assert.equal(there, here)
  })

  test('behavior: llamaCppEngineVersion is the installed node-llama-cpp', {
    skip: existsSync(nodeLlamaCppPackage) ? false : `${nodeLlamaCppPackage} absent`,
  }, () => {
    const installed = JSON.parse(readFileSync(nodeLlamaCppPackage, 'utf8')) as { version: string }
    assert.equal(llamaCppEngineVersion, installed.version)
  })

  test('behavior: decoding defaults clamp to a small context; info and bytes agree', () => {
    assert.deepEqual(defaultGgufDecoding(64), {
      contextSize: 64,
      batchSize: 64,
      ubatchSize: 64,
      threads: 1,
      maxTokens: 63, // the prompt needs one token of the context
    })
    assert.deepEqual(defaultGgufDecoding(1 << 20), {
      contextSize: 2048,
      batchSize: 512,
      ubatchSize: 512,
      threads: 1,
      maxTokens: 512,
    })
    const bytes = buildGguf(tinyLlamaGguf())
    const fromBytes = createGgufManifest({ bytes, cid: tinyCid, name: 'tiny' })
    const fromInfo = createGgufManifest({ info: validateGguf(bytes), cid: tinyCid, name: 'tiny' })
    assert.deepEqual(fromInfo, fromBytes)
    assert.equal(fromBytes.size, bytes.length)
    assert.deepEqual(fromBytes.gguf?.decoding, defaultGgufDecoding(64))
    assert.equal(fromBytes.limits.maxDim, 64)
    assert.deepEqual(fromBytes.gguf?.tokenizer, {
      model: 'llama',
      vocabSize: 264,
      bosTokenId: 1,
      eosTokenId: 2,
      addBosToken: true,
    })
    assert.equal(fromBytes.gguf?.fileType, 0)
    assert.equal(fromBytes.gguf?.chatTemplate, '{% for m in messages %}{{ m.content }}{% endfor %}')
  })

  test('behavior: explicit decoding, engine settings as a fallback, overrides', () => {
    const bytes = buildGguf(tinyLlamaGguf())
    const decoding = { contextSize: 32, batchSize: 16, ubatchSize: 8, threads: 2, maxTokens: 10 }
    const manifest = createGgufManifest({
      bytes,
      cid: tinyCid,
      name: 'tiny',
      version: '2.0.0',
      decoding,
      limits: { timeoutMs: 5000 },
      pricing: { perCall: '1000' },
      creator: `0x${'ab'.repeat(20)}`,
    })
    assert.deepEqual(manifest.gguf?.decoding, decoding)
    assert.deepEqual(manifest.engine, llamaCppEngineDescriptor(decoding))
    assert.deepEqual(manifest.limits, {
      maxInputBytes: 16 * 1024 * 1024,
      maxDim: 32,
      timeoutMs: 5000,
    })
    assert.equal(manifest.pricing.perCall, '1000')
    // a remote manifest's engine descriptor re-derives the same decoding (minus maxTokens)
    const again = createGgufManifest({
      bytes,
      cid: tinyCid,
      name: 'tiny',
      version: '2.0.0',
      engine: manifest.engine,
      decoding: { maxTokens: 10 },
      limits: manifest.limits,
      pricing: manifest.pricing,
      creator: `0x${'ab'.repeat(20)}`,
    })
    assert.deepEqual(again, manifest)
    // an engine's own descriptor may carry more settings and another version
    const engine = {
      name: 'llama.cpp',
      version: '3.21.1+b6000',
      settings: {
        ...llamaCppEngineDescriptor(defaultGgufDecoding(64)).settings,
        seedMode: 'request',
      },
    }
    assert.deepEqual(
      createGgufManifest({ bytes, cid: tinyCid, name: 'tiny', engine }).engine,
      engine,
    )
  })

  test('error: decoding outside the model or inconsistent', () => {
    const bytes = buildGguf(tinyLlamaGguf())
    const cases: Array<[Record<string, number>, RegExp]> = [
      [{ contextSize: 65 }, /contextSize 65 exceeds the 64 tokens the model was trained with/],
      [{ batchSize: 65 }, /batchSize 65 exceeds decoding.contextSize 64/],
      [{ batchSize: 8, ubatchSize: 16 }, /ubatchSize 16 exceeds decoding.batchSize 8/],
      [{ maxTokens: 100 }, /maxTokens 100 exceeds decoding.contextSize 64/],
      [{ threads: 0 }, /decoding.threads must be a positive integer; got 0/],
      [{ threads: 2000 }, /threads 2000 exceeds 1024/],
      [{ contextSize: 1.5 }, /decoding.contextSize must be a positive integer; got 1.5/],
    ]
    for (const [decoding, pattern] of cases)
      assertRefused(
        () => createGgufManifest({ bytes, cid: tinyCid, name: 'tiny', decoding }),
        'MANIFEST_INVALID',
        pattern,
      )
  })

  test('error: wrong engine, comparison, name; missing input', () => {
    const bytes = buildGguf(tinyLlamaGguf())
    const base = { bytes, cid: tinyCid, name: 'tiny' }
    assertRefused(
      () =>
        createGgufManifest({
          ...base,
          engine: { name: 'onnxruntime', version: '1.30.0', settings: { threads: 1 } },
        }),
      'MANIFEST_INVALID',
      /GGUF models run on llama.cpp; the engine given is "onnxruntime"/,
    )
    assertRefused(
      () =>
        createGgufManifest({
          ...base,
          decoding: { threads: 1 },
          engine: { name: 'llama.cpp', version: '1', settings: { batchSize: 32, threads: 4 } },
        }),
      'MANIFEST_INVALID',
      /engine setting threads is 4 but the decoding configuration says 1/,
    )
    assertRefused(
      () =>
        createGgufManifest({
          ...base,
          comparison: { kind: 'tolerance', absolute: 1, relative: 0 },
        }),
      'MANIFEST_INVALID',
      /compared exactly/,
    )
    assertRefused(
      () => createGgufManifest({ ...base, name: 'Tiny Model' }),
      'MANIFEST_INVALID',
      /name: lowercase letters/,
    )
    assertRefused(
      () => createGgufManifest({ cid: tinyCid, name: 'tiny' }),
      'INVALID_ARGUMENT',
      /needs the model bytes or the info/,
    )
    assertRefused(
      () => createGgufManifest({ ...base, info: validateGguf(bytes), bytes: bytes.subarray(1) }),
      'INVALID_ARGUMENT',
      /describes a file of \d+ bytes/,
    )
    // unvalidated info without a vocabulary or context length
    const options = tinyLlamaGguf()
    const bare = buildGguf({
      ...options,
      metadata: options.metadata.filter(([key]) => !key.startsWith('tokenizer.')),
    })
    assertRefused(
      () => createGgufManifest({ info: inspectGguf(bare), cid: tinyCid, name: 'tiny' }),
      'MODEL_INVALID',
      /lacks a vocabulary/,
    )
    assertRefused(
      () => createGgufManifest({ bytes: bare, cid: tinyCid, name: 'tiny' }),
      'MODEL_INVALID',
      /"tokenizer.ggml.model" \(a string\) is missing/,
    )
    const longTemplate = buildGguf({
      ...options,
      metadata: [
        ...options.metadata.filter(([key]) => key !== 'tokenizer.chat_template'),
        ['tokenizer.chat_template', gguf.string('x'.repeat(65_537))],
      ],
    })
    assertRefused(
      () => createGgufManifest({ bytes: longTemplate, cid: tinyCid, name: 'tiny' }),
      'MODEL_INVALID',
      /chat template .* has 65537 characters; a manifest holds at most 65536/,
    )
  })
})
