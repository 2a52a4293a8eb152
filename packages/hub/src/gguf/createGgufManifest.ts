import {
  BaseError,
  type Comparison,
  type EngineDescriptor,
  type Manifest,
  parseManifest,
} from '@verity/protocol'
import { defaultManifestLimits } from '../createManifest.ts'
import type { GgufInfo } from './inspectGguf.ts'
import { type ValidateGgufOptions, validateGguf } from './validateGguf.ts'

/** The pinned decoding configuration of a GGUF model (`manifest.gguf.decoding`). */
export type GgufDecoding = NonNullable<Manifest['gguf']>['decoding']

/**
 * The engine that runs GGUF models, as named in manifests.
 *
 * @example
 * ```ts
 * manifest.engine.name === llamaCppEngineName
 * ```
 */
export const llamaCppEngineName = 'llama.cpp'

/**
 * The node-llama-cpp version the engine package pins (its `package.json`, 3.21.1, which bundles
 * llama.cpp release v0.4.0 of its own build). The hub does not depend on node-llama-cpp; a test
 * checks this constant against the installed package. Engines may pass their own descriptor.
 *
 * @example
 * ```ts
 * llamaCppEngineDescriptor(decoding).version === llamaCppEngineVersion
 * ```
 */
export const llamaCppEngineVersion = '3.21.1'

const maxDefaultContext = 2048
const maxDefaultBatch = 512
const maxDefaultTokens = 512
const maxThreads = 1024
const maxChatTemplate = 65_536
const decodingKeys = ['contextSize', 'batchSize', 'ubatchSize', 'threads', 'maxTokens'] as const
const engineKeys = ['contextSize', 'batchSize', 'ubatchSize', 'threads'] as const

function manifestInvalid(message: string, hints: readonly string[] = []): BaseError {
  return new BaseError('MANIFEST_INVALID', message, { metaMessages: hints })
}

/**
 * The decoding configuration a GGUF model gets by default: a context of `min(contextLength, 2048)`
 * tokens, batch and micro-batch of 512 (at most the context), 1 thread (llama.cpp's results depend
 * on the thread count), and at most `min(512, context)` generated tokens per request.
 *
 * @example
 * ```ts
 * defaultGgufDecoding(2048)
 * // { contextSize: 2048, batchSize: 512, ubatchSize: 512, threads: 1, maxTokens: 512 }
 * ```
 */
export function defaultGgufDecoding(contextLength: number): GgufDecoding {
  const contextSize = Math.min(contextLength, maxDefaultContext)
  const batchSize = Math.min(maxDefaultBatch, contextSize)
  return {
    contextSize,
    batchSize,
    ubatchSize: batchSize,
    threads: 1,
    // a prompt needs at least one token of the context
    maxTokens: Math.max(1, Math.min(maxDefaultTokens, contextSize - 1)),
  }
}

/**
 * The engine descriptor of llama.cpp (through node-llama-cpp) for a decoding configuration: every
 * setting that changes tokens, so it is part of `settingsHash` in receipts. CPU only.
 *
 * @example
 * ```ts
 * llamaCppEngineDescriptor(defaultGgufDecoding(2048))
 * // { name: 'llama.cpp', version: '3.21.1',
 * //   settings: { threads: 1, batchSize: 512, ubatchSize: 512, contextSize: 2048, gpu: false } }
 * ```
 */
export function llamaCppEngineDescriptor(
  decoding: GgufDecoding,
  version: string = llamaCppEngineVersion,
): EngineDescriptor {
  return {
    name: llamaCppEngineName,
    version,
    settings: {
      threads: decoding.threads,
      batchSize: decoding.batchSize,
      ubatchSize: decoding.ubatchSize,
      contextSize: decoding.contextSize,
      gpu: false,
    },
  }
}

export type CreateGgufManifestParameters = {
  /** The model file: validated here with {@link validateGguf}. Give `bytes` or `info`. */
  bytes?: Uint8Array | undefined
  /** What {@link validateGguf} read from the file (e.g. through a file handle). */
  info?: GgufInfo | undefined
  /** Its CID, from {@link computeCid}. */
  cid: string
  name: string
  /** Semantic version; default `1.0.0`. */
  version?: string | undefined
  /** SPDX identifier or free text; default `UNLICENSED`. */
  license?: string | undefined
  description?: string | undefined
  creator?: `0x${string}` | undefined
  /** Price per call in wei; default `{ perCall: '0' }`. */
  pricing?: { perCall: string } | undefined
  /**
   * The pinned decoding configuration; missing fields come from `engine.settings`, then from
   * {@link defaultGgufDecoding}.
   */
  decoding?: Partial<GgufDecoding> | undefined
  /**
   * The engine descriptor (default {@link llamaCppEngineDescriptor}). It must name `llama.cpp`,
   * and its `threads`/`batchSize`/`ubatchSize`/`contextSize` settings, where set, must equal the
   * decoding configuration.
   */
  engine?: EngineDescriptor | undefined
  /** Only `{ kind: 'exact' }`: generated tokens are compared exactly. */
  comparison?: Comparison | undefined
  /** Default: {@link defaultManifestLimits} with `maxDim` = the context size (prompt tokens). */
  limits?: Partial<Manifest['limits']> | undefined
  /** Limits and architectures for validating `bytes`. */
  validation?: ValidateGgufOptions | undefined
}

function resolveDecoding(
  contextLength: number,
  requested: Partial<GgufDecoding>,
  engine: EngineDescriptor | undefined,
): GgufDecoding {
  const fromEngine: Partial<GgufDecoding> = {}
  for (const key of engineKeys) {
    const value = engine?.settings[key]
    if (typeof value === 'number') fromEngine[key] = value
  }
  const contextSize =
    requested.contextSize ??
    fromEngine.contextSize ??
    defaultGgufDecoding(contextLength).contextSize
  const defaults = defaultGgufDecoding(contextSize)
  const batchSize = requested.batchSize ?? fromEngine.batchSize ?? defaults.batchSize
  const decoding: GgufDecoding = {
    contextSize,
    batchSize,
    ubatchSize:
      requested.ubatchSize ?? fromEngine.ubatchSize ?? Math.min(defaults.ubatchSize, batchSize),
    threads: requested.threads ?? fromEngine.threads ?? defaults.threads,
    maxTokens: requested.maxTokens ?? defaults.maxTokens,
  }
  for (const key of decodingKeys) {
    const value = decoding[key]
    if (!Number.isSafeInteger(value) || value < 1)
      throw manifestInvalid(`decoding.${key} must be a positive integer; got ${String(value)}.`)
  }
  const rules: Array<[boolean, string]> = [
    [
      decoding.contextSize <= contextLength,
      `decoding.contextSize ${decoding.contextSize} exceeds the ${contextLength} tokens the model was trained with.`,
    ],
    [
      decoding.batchSize <= decoding.contextSize,
      `decoding.batchSize ${decoding.batchSize} exceeds decoding.contextSize ${decoding.contextSize}.`,
    ],
    [
      decoding.ubatchSize <= decoding.batchSize,
      `decoding.ubatchSize ${decoding.ubatchSize} exceeds decoding.batchSize ${decoding.batchSize}.`,
    ],
    [
      decoding.maxTokens <= decoding.contextSize,
      `decoding.maxTokens ${decoding.maxTokens} exceeds decoding.contextSize ${decoding.contextSize}.`,
    ],
    [decoding.threads <= maxThreads, `decoding.threads ${decoding.threads} exceeds ${maxThreads}.`],
  ]
  for (const [ok, message] of rules)
    if (!ok)
      throw manifestInvalid(message, [
        `Pass values within the model's limits; the defaults are ${JSON.stringify(defaultGgufDecoding(contextLength))}.`,
      ])
  return decoding
}

function checkEngine(engine: EngineDescriptor, decoding: GgufDecoding): void {
  if (engine.name !== llamaCppEngineName)
    throw manifestInvalid(
      `GGUF models run on ${llamaCppEngineName}; the engine given is ${JSON.stringify(engine.name)}.`,
      [
        'Pass the llama.cpp engine descriptor of the engine that will run the model, or none for the default.',
      ],
    )
  for (const key of engineKeys) {
    const value = engine.settings[key]
    if (value !== undefined && value !== decoding[key])
      throw manifestInvalid(
        `The engine setting ${key} is ${JSON.stringify(value)} but the decoding configuration says ${decoding[key]}.`,
        ['The engine descriptor and manifest.gguf.decoding pin the same run: make them agree.'],
      )
  }
}

/** The facts a manifest needs, from validated (or at least complete) info. */
function requireFacts(info: GgufInfo) {
  const { contextLength, tokenizer } = info
  if (contextLength === undefined || contextLength < 1 || !tokenizer || tokenizer.vocabSize < 1)
    throw new BaseError(
      'MODEL_INVALID',
      `The GGUF info lacks ${contextLength === undefined || contextLength < 1 ? `a context length (${info.architecture}.context_length)` : 'a vocabulary (tokenizer.ggml.tokens)'}.`,
      { metaMessages: ['Pass the result of validateGguf, which refuses such files.'] },
    )
  if (info.chatTemplate !== undefined && info.chatTemplate.length > maxChatTemplate)
    throw new BaseError(
      'MODEL_INVALID',
      `The chat template (tokenizer.chat_template) has ${info.chatTemplate.length} characters; a manifest holds at most ${maxChatTemplate}.`,
      {
        metaMessages: [
          'Shorten the template in the GGUF metadata (gguf-py: gguf_new_metadata.py).',
        ],
      },
    )
  return { contextLength, tokenizer }
}

/**
 * Builds the manifest of a GGUF model: `format: 'gguf'`, token ids in (`prompt_tokens`, int32
 * `['n']`) and out (`tokens`, int32 `['m']`), exact comparison, the `gguf` section (header facts,
 * tokenizer, pinned decoding), the llama.cpp engine descriptor, and the ONNX manifests' defaults
 * for version, license, pricing and limits (`maxDim` = the context size). Validates `bytes` with
 * {@link validateGguf} (or trusts `info`, which should come from it) and the result with
 * `parseManifest`. Throws `MODEL_INVALID` for a file llama.cpp could not load and
 * `MANIFEST_INVALID` for bad parameters. The same inputs give the same manifest, byte for byte.
 *
 * @example
 * ```ts
 * const manifest = createGgufManifest({ bytes, cid: await computeCid(bytes), name: 'stories260k' })
 * manifest.gguf?.decoding // { contextSize: 2048, batchSize: 512, ubatchSize: 512, threads: 1, maxTokens: 512 }
 * ```
 */
export function createGgufManifest(parameters: CreateGgufManifestParameters): Manifest {
  const { bytes, cid, name } = parameters
  let info = parameters.info
  if (info === undefined) {
    if (!(bytes instanceof Uint8Array))
      throw new BaseError(
        'INVALID_ARGUMENT',
        'createGgufManifest needs the model bytes or the info validateGguf read from them.',
      )
    info = validateGguf(bytes, parameters.validation)
  } else if (bytes !== undefined && bytes.length !== info.fileSize)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `The bytes given have ${bytes.length} bytes but the info describes a file of ${info.fileSize} bytes.`,
    )
  const { contextLength, tokenizer } = requireFacts(info)
  if (parameters.comparison !== undefined && parameters.comparison.kind !== 'exact')
    throw manifestInvalid(
      `A GGUF model's generated tokens are compared exactly; got comparison ${JSON.stringify(parameters.comparison)}.`,
    )
  const decoding = resolveDecoding(contextLength, parameters.decoding ?? {}, parameters.engine)
  const engine = parameters.engine ?? llamaCppEngineDescriptor(decoding)
  checkEngine(engine, decoding)
  const optional = <K extends string, V>(key: K, value: V | undefined) =>
    (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>
  const manifest: Manifest = {
    schema: 'verity.manifest/1',
    name,
    version: parameters.version ?? '1.0.0',
    ...optional('description', parameters.description),
    format: 'gguf',
    cid,
    size: info.fileSize,
    inputs: [{ name: 'prompt_tokens', dtype: 'int32', shape: ['n'] }],
    outputs: [{ name: 'tokens', dtype: 'int32', shape: ['m'] }],
    comparison: { kind: 'exact' },
    engine: { ...engine, settings: { ...engine.settings } },
    limits: { ...defaultManifestLimits, maxDim: decoding.contextSize, ...parameters.limits },
    license: parameters.license ?? 'UNLICENSED',
    ...optional('creator', parameters.creator),
    pricing: parameters.pricing ?? { perCall: '0' },
    gguf: {
      architecture: info.architecture,
      ggufVersion: info.version,
      contextLength,
      ...optional('embeddingLength', info.embeddingLength),
      ...optional('blockCount', info.blockCount),
      ...optional('fileType', info.fileType),
      ...optional('chatTemplate', info.chatTemplate),
      tokenizer: {
        model: tokenizer.model,
        vocabSize: tokenizer.vocabSize,
        ...optional('bosTokenId', tokenizer.bosTokenId),
        ...optional('eosTokenId', tokenizer.eosTokenId),
        ...optional('addBosToken', tokenizer.addBosToken),
      },
      decoding,
    },
  }
  return parseManifest(manifest)
}
