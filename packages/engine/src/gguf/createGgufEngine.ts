import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { open, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import {
  BaseError,
  hashEngineDescriptor,
  hashManifest,
  type Manifest,
  parseManifest,
  parseResponseJsonSchema,
} from '@verity/protocol'
import type { WorkerCall, WorkerCallOptions } from '../worker/createWorkerProcess.ts'
import { createGgufEngineDescriptor } from './ggufEngineDescriptor.ts'
import {
  type GgufEngineOptions,
  type GgufEngineOptionsInput,
  resolveGgufEngineOptions,
} from './ggufEngineOptions.ts'
import { type GgufWorkerProcess, spawnGgufWorker } from './ggufWorkerProcess.ts'
import type {
  GgufGenerateCall,
  GgufGenerateReply,
  GgufLoadReply,
  GgufReplayReply,
  GgufWorkerTokenEvent,
} from './ggufWorkerProtocol.ts'
import { resolveSampling } from './resolveSampling.ts'
import type {
  TextChatCompletion,
  TextChatMessage,
  TextChatParameters,
  TextCompleteParameters,
  TextCompletion,
  TextEngine,
  TextEngineLoadParameters,
  TextModelInfo,
  TextPromptTokensParameters,
  TextReplayParameters,
  TextReplayResult,
} from './textEngine.ts'

/**
 * A snapshot of a GGUF engine: loaded models, the worker process (pid, llama.cpp's CPU feature
 * line), whether a call is running, how many wait, and how many times the worker was restarted
 * (after a crash, or a timeout or abort that did not stop in time).
 *
 * @example
 * ```ts
 * const { restarts, busy } = engine.stats() // 0, false
 * ```
 */
export type GgufEngineStats = {
  models: string[]
  pid: number | undefined
  systemInfo: string | undefined
  busy: boolean
  queued: number
  restarts: number
}

/**
 * The GGUF engine: a {@link TextEngine} plus its resolved options and a stats snapshot.
 *
 * @example
 * ```ts
 * const engine: GgufEngine = createGgufEngine({ contextSize: 1024 })
 * engine.options.batchSize // 512
 * ```
 */
export type GgufEngine = TextEngine & {
  readonly options: Readonly<GgufEngineOptions>
  stats(): GgufEngineStats
}

type ModelEntry = {
  manifest: Manifest
  manifestHash: string
  /** The file the worker loads: the caller's path, or a private copy of the caller's bytes. */
  path: string
  /** `path:<resolved path>` or `sha256:<hex of the bytes>`: what makes two loads the same. */
  source: string
  temporary: boolean
  info: TextModelInfo | undefined
  ready: Promise<TextModelInfo>
}

type Waiter = { resolve: () => void; reject: (error: BaseError) => void }
type CallOptions = WorkerCallOptions<GgufWorkerTokenEvent>

const ggufMagic = 'GGUF'
const maxStopLength = 256
const chatRoles = new Set(['system', 'user', 'assistant'])

function closedError(): BaseError {
  return new BaseError('ENGINE_CLOSED', 'The engine is closed.', {
    metaMessages: ['Create a new engine to run models again.'],
  })
}

function notFoundError(id: string): BaseError {
  return new BaseError('MODEL_NOT_FOUND', `Model "${id}" is not loaded in this engine.`, {
    metaMessages: ['Call engine.load({ id, path | bytes, manifest }) first.'],
  })
}

function invalid(message: string, ...metaMessages: string[]): BaseError {
  return new BaseError('INVALID_ARGUMENT', message, { metaMessages })
}

function notGguf(id: string, found: string): BaseError {
  return new BaseError(
    'ENGINE_LOAD_FAILED',
    `Model "${id}" is not a GGUF file: it starts with ${found}, expected the magic "GGUF".`,
    { metaMessages: ['Check that the file is a complete GGUF model (not a partial download).'] },
  )
}

function describeMagic(bytes: Uint8Array): string {
  return JSON.stringify(Buffer.from(bytes.subarray(0, 4)).toString('latin1'))
}

function checkTimeout(timeoutMs: unknown): void {
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0))
    throw invalid(
      `timeoutMs is ${JSON.stringify(timeoutMs)}; expected a positive number of milliseconds.`,
    )
}

function checkTokenArray(
  name: string,
  value: unknown,
  vocabSize: number,
  allowEmpty: boolean,
): number[] {
  if (!Array.isArray(value))
    throw invalid(`${name} is ${typeof value}; expected an array of token ids.`)
  if (!allowEmpty && value.length === 0) throw invalid(`${name} is empty.`)
  const bad = value.findIndex(
    (token) => !Number.isInteger(token) || token < 0 || token >= vocabSize,
  )
  if (bad >= 0)
    throw invalid(
      `${name}[${bad}] is ${JSON.stringify(value[bad])}; expected a token id from 0 to ${vocabSize - 1}.`,
    )
  return [...value] as number[]
}

function checkJsonSchema(schema: unknown): Readonly<Record<string, unknown>> | null {
  if (schema === undefined || schema === null) return null
  return parseResponseJsonSchema(schema)
}

function checkStop(stop: unknown, maxStopStrings: number): string[] {
  if (stop === undefined) return []
  if (!Array.isArray(stop)) throw invalid(`stop is ${typeof stop}; expected an array of strings.`)
  if (stop.length > maxStopStrings)
    throw invalid(`stop has ${stop.length} strings; at most ${maxStopStrings} are allowed.`)
  for (const [index, value] of stop.entries())
    if (
      typeof value !== 'string' ||
      value.length === 0 ||
      value.length > maxStopLength ||
      !value.isWellFormed()
    )
      throw invalid(
        `stop[${index}] is ${JSON.stringify(value)}; expected a string of 1 to ${maxStopLength} characters.`,
      )
  return [...stop] as string[]
}

function checkMessages(messages: unknown, maxBytes: number): TextChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0)
    throw invalid('messages must be a non-empty array of { role, content }.')
  let bytes = 0
  const checked = messages.map((message: unknown, index): TextChatMessage => {
    const { role, content } = (message ?? {}) as { role?: unknown; content?: unknown }
    if (typeof role !== 'string' || !chatRoles.has(role))
      throw invalid(
        `messages[${index}].role is ${JSON.stringify(role)}; expected "system", "user" or "assistant".`,
      )
    if (typeof content !== 'string')
      throw invalid(`messages[${index}].content is ${typeof content}; expected a string.`)
    bytes += Buffer.byteLength(content)
    return { role: role as TextChatMessage['role'], content }
  })
  if (bytes > maxBytes)
    throw new BaseError(
      'TENSOR_TOO_LARGE',
      `The messages hold ${bytes} bytes of text; at most ${maxBytes} are accepted.`,
      { metaMessages: ['Send shorter messages.'] },
    )
  return checked
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

// The manifest's header facts must be the file's, or the manifest describes another model.
function manifestProblems(manifest: Manifest, info: GgufLoadReply): string[] {
  const gguf = manifest.gguf
  if (!gguf) return []
  const problems: string[] = []
  const compare = (name: string, declared: unknown, actual: unknown) => {
    if (declared !== undefined && declared !== actual)
      problems.push(
        `gguf.${name}: the manifest declares ${JSON.stringify(declared)}, the file has ${JSON.stringify(actual)}.`,
      )
  }
  compare('architecture', gguf.architecture, info.architecture)
  compare('ggufVersion', gguf.ggufVersion, info.ggufVersion)
  compare('contextLength', gguf.contextLength, info.trainContextSize)
  compare('embeddingLength', gguf.embeddingLength, info.embeddingLength)
  compare('blockCount', gguf.blockCount, info.blockCount)
  compare('fileType', gguf.fileType, info.fileType)
  compare('chatTemplate', gguf.chatTemplate, info.chatTemplate ?? undefined)
  compare('tokenizer.vocabSize', gguf.tokenizer.vocabSize, info.vocabSize)
  compare('tokenizer.bosTokenId', gguf.tokenizer.bosTokenId, info.bosTokenId ?? undefined)
  compare('tokenizer.eosTokenId', gguf.tokenizer.eosTokenId, info.eosTokenId ?? undefined)
  compare('tokenizer.addBosToken', gguf.tokenizer.addBosToken, info.addBosToken)
  return problems
}

/**
 * Creates a GGUF text engine: llama.cpp through node-llama-cpp's prebuilt CPU binary (never
 * built, never downloaded), with pinned settings (see `defaultGgufEngineOptions`) recorded in
 * its descriptor. llama.cpp runs in one worker process per engine; calls run one at a time in
 * arrival order (a single llama.cpp sequence: batching requests together would change their
 * tokens). Each model gets its own context of `contextSize` tokens, and the KV cache is cleared
 * before every call, so a result depends only on the request.
 *
 * Limits: `maxTokens` up to the model's limit (engine option, manifest `gguf.decoding.maxTokens`),
 * prompt plus `maxTokens` within `contextSize` (else `TENSOR_TOO_LARGE`), text prompts up to
 * `maxPromptBytes`. A call is stopped after the smallest of `parameters.timeoutMs`,
 * `manifest.limits.timeoutMs` and `options.timeoutMs` (`ENGINE_TIMEOUT`; waiting for the engine
 * does not count) or when `signal` fires (`ENGINE_ABORTED`): the caller is answered at once, the
 * worker stops at its next token, and is killed and restarted if it does not stop within
 * `abortGraceMs` (models then reload on their next call).
 *
 * A manifest's `gguf.decoding` must equal the engine's pinned settings (create the engine with
 * `ggufEngineOptionsFromManifest(manifest)`), and its header facts must match the file.
 *
 * @example
 * ```ts
 * const engine = createGgufEngine()
 * await engine.load({ id: manifest.cid, path: '/models/stories260K.gguf', manifest })
 * const completion = await engine.complete({
 *   id: manifest.cid,
 *   prompt: 'Once upon a time',
 *   maxTokens: 32,
 *   onToken: ({ text }) => process.stdout.write(text),
 * })
 * const { ok } = await engine.replay({ id: manifest.cid, ...completion })
 * await engine.close()
 * ```
 */
export function createGgufEngine(options: GgufEngineOptionsInput = {}): GgufEngine {
  const resolved = resolveGgufEngineOptions(options)
  const descriptor = createGgufEngineDescriptor(resolved)
  const models = new Map<string, ModelEntry>()
  const waiting: Waiter[] = []
  let closed = false
  let busy = false
  let starts = 0
  let worker: Promise<GgufWorkerProcess> | undefined
  let current: GgufWorkerProcess | undefined
  let tempDir: string | undefined
  let tempCounter = 0

  function acquire(signal: AbortSignal | undefined): Promise<void> {
    if (closed) return Promise.reject(closedError())
    if (signal?.aborted)
      return Promise.reject(
        new BaseError('ENGINE_ABORTED', 'The call was aborted before it started.', {
          cause: signal.reason,
        }),
      )
    if (!busy) {
      busy = true
      return Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const index = waiting.indexOf(waiter)
        if (index >= 0) waiting.splice(index, 1)
        reject(
          new BaseError('ENGINE_ABORTED', 'The call was aborted while waiting for the engine.', {
            cause: signal?.reason,
          }),
        )
      }
      const waiter: Waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort)
          reject(error)
        },
      }
      waiting.push(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  function release(): void {
    const next = waiting.shift()
    if (next && !closed) {
      next.resolve()
      return
    }
    busy = false
    current?.unref()
  }

  function startWorker(): Promise<GgufWorkerProcess> {
    starts++
    const started = spawnGgufWorker({
      settings: {
        contextSize: resolved.contextSize,
        batchSize: resolved.batchSize,
        threads: resolved.threads,
        kvCacheType: resolved.kvCacheType,
        replayTolerance: resolved.replayTolerance,
      },
      startTimeoutMs: resolved.loadTimeoutMs,
      onExit: (exited) => {
        if (current === exited) current = undefined
      },
    }).then((process) => {
      current = process
      return process
    })
    worker = started
    // A failed start is reported to the caller that waits for it; the next call starts anew.
    started.catch(() => {
      if (worker === started) worker = undefined
    })
    return started
  }

  async function liveWorker(): Promise<GgufWorkerProcess> {
    const process = await (worker ?? startWorker())
    if (process.alive) return process
    return startWorker()
  }

  function callOptions(
    what: string,
    failureCode: CallOptions['failureCode'],
    extra: Partial<CallOptions> = {},
  ): CallOptions {
    return { graceMs: resolved.abortGraceMs, failureCode, what, ...extra }
  }

  async function loadInto(
    process: GgufWorkerProcess,
    id: string,
    entry: ModelEntry,
    signal?: AbortSignal,
  ): Promise<GgufLoadReply> {
    const call = process.request<GgufLoadReply>(
      { type: 'load', id, path: entry.path },
      callOptions(`loading model "${id}"`, 'ENGINE_LOAD_FAILED', {
        timeoutMs: resolved.loadTimeoutMs,
        signal,
        graceMs: 0,
      }),
    )
    const info = await call.result
    await call.finished
    process.loaded.add(id)
    return info
  }

  /**
   * Runs one worker call exclusively: waits for the engine (abortable), makes sure the worker
   * runs and has the model, then returns the call's result. The engine is released when the
   * worker is done with the call, which may be after the caller was answered (abort, timeout).
   */
  async function exclusive<T>(
    id: string,
    entry: ModelEntry,
    signal: AbortSignal | undefined,
    makeCall: (process: GgufWorkerProcess) => WorkerCall<T>,
  ): Promise<T> {
    await acquire(signal)
    let finished: Promise<void> = Promise.resolve()
    try {
      const process = await liveWorker()
      process.ref()
      if (models.get(id) !== entry) throw notFoundError(id)
      if (!process.loaded.has(id)) await loadInto(process, id, entry, signal)
      const call = makeCall(process)
      finished = call.finished
      return await call.result
    } finally {
      void finished.then(release)
    }
  }

  async function loadFirst(id: string, entry: ModelEntry): Promise<TextModelInfo> {
    await acquire(undefined)
    try {
      const process = await liveWorker()
      process.ref()
      const reply = await loadInto(process, id, entry)
      const problems = manifestProblems(entry.manifest, reply)
      const unloadNow = () => {
        process.loaded.delete(id)
        void process
          .request({ type: 'unload', id }, callOptions(`unloading "${id}"`, 'INTERNAL'))
          .result.catch(() => {})
      }
      if (problems.length > 0) {
        unloadNow()
        throw new BaseError(
          'MANIFEST_INVALID',
          `The manifest of model "${id}" does not describe its GGUF file.`,
          { metaMessages: problems },
        )
      }
      if (models.get(id) !== entry) {
        // Unloaded (or closed) while loading: do not keep a model nobody can reach.
        unloadNow()
        throw notFoundError(id)
      }
      const limit = entry.manifest.gguf?.decoding.maxTokens ?? Number.POSITIVE_INFINITY
      const info: TextModelInfo = {
        architecture: reply.architecture,
        vocabSize: reply.vocabSize,
        trainContextSize: reply.trainContextSize,
        contextSize: resolved.contextSize,
        maxTokens: Math.max(1, Math.min(resolved.maxTokens, limit, resolved.contextSize - 1)),
        bosTokenId: reply.bosTokenId,
        eosTokenId: reply.eosTokenId,
        addBosToken: reply.addBosToken,
        chatTemplate: reply.chatTemplate,
      }
      entry.info = info
      return info
    } finally {
      release()
    }
  }

  function ensureTempDir(): string {
    tempDir ??= mkdtempSync(join(tmpdir(), 'verity-gguf-'))
    return tempDir
  }

  function removeFile(entry: ModelEntry): void {
    if (entry.temporary) rmSync(entry.path, { force: true })
  }

  async function readyEntry(id: string): Promise<{ entry: ModelEntry; info: TextModelInfo }> {
    if (closed) throw closedError()
    const entry = models.get(id)
    if (!entry) throw notFoundError(id)
    const info = await entry.ready
    return { entry, info }
  }

  function timeoutFor(entry: ModelEntry, timeoutMs: number | undefined): number {
    checkTimeout(timeoutMs)
    return Math.min(
      timeoutMs ?? Number.POSITIVE_INFINITY,
      entry.manifest.limits.timeoutMs,
      resolved.timeoutMs,
    )
  }

  function checkMaxTokens(maxTokens: unknown, info: TextModelInfo): number | undefined {
    if (maxTokens === undefined) return undefined
    if (!Number.isInteger(maxTokens) || (maxTokens as number) < 1)
      throw invalid(`maxTokens is ${JSON.stringify(maxTokens)}; expected a positive integer.`)
    if ((maxTokens as number) > info.maxTokens)
      throw invalid(
        `maxTokens is ${maxTokens}; this model allows at most ${info.maxTokens}.`,
        'Ask for fewer tokens (the limit comes from the engine and the manifest gguf.decoding.maxTokens).',
      )
    return maxTokens as number
  }

  async function generate(
    parameters: TextCompleteParameters | TextChatParameters,
    prompt: GgufGenerateCall['prompt'] | ((info: TextModelInfo) => GgufGenerateCall['prompt']),
  ): Promise<TextCompletion & { chatTemplate: GgufGenerateReply['chatTemplate'] }> {
    const started = performance.now()
    const { id, signal } = parameters
    const { entry, info } = await readyEntry(id)
    const timeoutMs = timeoutFor(entry, parameters.timeoutMs)
    const requested = checkMaxTokens(parameters.maxTokens, info)
    const stop = checkStop(parameters.stop, resolved.maxStopStrings)
    const sampling = resolveSampling(parameters)
    const jsonSchema = checkJsonSchema(parameters.jsonSchema)
    const { onToken } = parameters
    if (onToken !== undefined && typeof onToken !== 'function')
      throw invalid(`onToken is ${typeof onToken}; expected a function.`)
    const resolvedPrompt = typeof prompt === 'function' ? prompt(info) : prompt
    let sentAt = 0
    let firstTokenAt = 0
    const call: GgufGenerateCall = {
      id,
      prompt: resolvedPrompt,
      maxTokens: requested ?? info.maxTokens,
      fitMaxTokens: requested === undefined,
      stop,
      sampling,
      jsonSchema,
      stream: onToken !== undefined,
    }
    const reply = await exclusive(id, entry, signal, (process) => {
      sentAt = performance.now()
      return process.request<GgufGenerateReply>(
        { type: 'generate', ...call },
        callOptions(`model "${id}"`, 'ENGINE_RUN_FAILED', {
          timeoutMs,
          signal,
          // A throwing onToken stops the generation; the call then rejects with what it threw.
          onEvent: onToken
            ? (event) => {
                if (event.index === 0) firstTokenAt = performance.now()
                onToken({ index: event.index, token: event.token, text: event.text })
              }
            : undefined,
        }),
      )
    })
    return {
      promptTokens: reply.promptTokens,
      tokens: reply.tokens,
      text: reply.text,
      finishReason: reply.finishReason,
      maxTokens: reply.maxTokens,
      stop,
      sampling,
      ...(jsonSchema ? { jsonSchema } : {}),
      usage: {
        promptTokens: reply.promptTokens.length,
        completionTokens: reply.tokens.length,
        totalTokens: reply.promptTokens.length + reply.tokens.length,
      },
      durationMs: performance.now() - started,
      timeToFirstTokenMs:
        firstTokenAt > 0 ? firstTokenAt - started : sentAt - started + reply.firstTokenMs,
      chatTemplate: reply.chatTemplate,
    }
  }

  const engine: GgufEngine = {
    descriptor,
    settingsHash: hashEngineDescriptor(descriptor),
    options: resolved,

    async load(parameters: TextEngineLoadParameters) {
      if (closed) throw closedError()
      const { id } = parameters
      if (typeof id !== 'string' || id.length === 0)
        throw invalid('A model id must be a non-empty string.')
      const manifest = parseManifest(parameters.manifest)
      if (manifest.format !== 'gguf')
        throw invalid(
          `Model "${id}" has format "${manifest.format}"; the GGUF engine runs only "gguf" models.`,
        )
      const decoding = manifest.gguf?.decoding
      if (decoding) {
        const pinned = {
          contextSize: resolved.contextSize,
          batchSize: resolved.batchSize,
          ubatchSize: resolved.ubatchSize,
          threads: resolved.threads,
        }
        const differing = Object.entries(pinned).filter(
          ([name, value]) => decoding[name as keyof typeof pinned] !== value,
        )
        if (differing.length > 0)
          throw invalid(
            `Model "${id}" pins decoding settings this engine does not run: ${differing
              .map(
                ([name, value]) =>
                  `${name} ${decoding[name as keyof typeof pinned]} (engine: ${value})`,
              )
              .join(', ')}.`,
            'Create an engine for it with createGgufEngine(ggufEngineOptionsFromManifest(manifest)).',
          )
      }
      const { path, bytes } = parameters as { path?: unknown; bytes?: unknown }
      if ((path === undefined) === (bytes === undefined))
        throw invalid(`Model "${id}": give exactly one of path and bytes.`)
      let source: string
      let filePath: string
      if (path !== undefined) {
        if (typeof path !== 'string' || path.length === 0)
          throw invalid(`Model "${id}" path must be a non-empty string.`)
        filePath = resolve(path)
        source = `path:${filePath}`
      } else {
        if (!(bytes instanceof Uint8Array) || bytes.length === 0)
          throw invalid(`Model "${id}" bytes must be a non-empty Uint8Array.`)
        if (Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== ggufMagic)
          throw notGguf(id, describeMagic(bytes))
        filePath = ''
        source = `sha256:${sha256(bytes)}`
      }
      const manifestHash = hashManifest(manifest)
      const existing = models.get(id)
      if (existing) {
        if (existing.manifestHash !== manifestHash || existing.source !== source)
          throw invalid(
            `Model id "${id}" is already loaded with a different file or a different manifest.`,
            'Unload it first, or use another id (the CID is a good id).',
          )
        return existing.ready
      }
      if (path !== undefined) {
        const header = await readHeader(id, filePath)
        if (header !== ggufMagic) throw notGguf(id, JSON.stringify(header))
      } else {
        filePath = join(ensureTempDir(), `${++tempCounter}.gguf`)
        await writeFile(filePath, bytes as Uint8Array, { mode: 0o600 })
      }
      if (closed) {
        if (bytes !== undefined) rmSync(filePath, { force: true })
        throw closedError()
      }
      const entry = {
        manifest,
        manifestHash,
        path: filePath,
        source,
        temporary: bytes !== undefined,
        info: undefined,
      } as ModelEntry
      entry.ready = loadFirst(id, entry)
      models.set(id, entry)
      try {
        return await entry.ready
      } catch (error) {
        if (models.get(id) === entry) {
          models.delete(id)
          removeFile(entry)
        }
        throw error
      }
    },

    modelInfo(id: string) {
      if (closed) throw closedError()
      const info = models.get(id)?.info
      if (!info) throw notFoundError(id)
      return { ...info }
    },

    async tokenize(parameters: { id: string; text: string }) {
      const { id, text } = parameters
      const { entry } = await readyEntry(id)
      if (typeof text !== 'string') throw invalid(`text is ${typeof text}; expected a string.`)
      if (Buffer.byteLength(text) > resolved.maxPromptBytes)
        throw new BaseError(
          'TENSOR_TOO_LARGE',
          `The text has ${Buffer.byteLength(text)} bytes; at most ${resolved.maxPromptBytes} are accepted.`,
        )
      return exclusive(id, entry, undefined, (process) =>
        process.request<number[]>(
          { type: 'tokenize', id, text },
          callOptions(`tokenizing for model "${id}"`, 'ENGINE_RUN_FAILED', {
            timeoutMs: timeoutFor(entry, undefined),
          }),
        ),
      )
    },

    async promptTokens(parameters: TextPromptTokensParameters) {
      const { id } = parameters
      const { entry, info } = await readyEntry(id)
      let prompt: GgufGenerateCall['prompt']
      if (parameters.messages !== undefined)
        prompt = {
          kind: 'chat',
          messages: checkMessages(parameters.messages, resolved.maxPromptBytes),
        }
      else if (typeof parameters.prompt === 'string') {
        if (Buffer.byteLength(parameters.prompt) > resolved.maxPromptBytes)
          throw new BaseError(
            'TENSOR_TOO_LARGE',
            `The prompt has ${Buffer.byteLength(parameters.prompt)} bytes of text; at most ${resolved.maxPromptBytes} are accepted.`,
            { metaMessages: ['Send a shorter prompt.'] },
          )
        prompt = { kind: 'text', text: parameters.prompt }
      } else
        prompt = {
          kind: 'tokens',
          tokens: checkTokenArray('prompt', parameters.prompt, info.vocabSize, false),
        }
      return exclusive(id, entry, undefined, (process) =>
        process.request<number[]>(
          { type: 'promptTokens', id, prompt },
          callOptions(`tokenizing the prompt for model "${id}"`, 'ENGINE_RUN_FAILED', {
            timeoutMs: timeoutFor(entry, undefined),
          }),
        ),
      )
    },

    async complete(parameters: TextCompleteParameters) {
      const { prompt } = parameters
      let call: (info: TextModelInfo) => GgufGenerateCall['prompt']
      if (typeof prompt === 'string') {
        const bytes = Buffer.byteLength(prompt)
        if (bytes > resolved.maxPromptBytes)
          throw new BaseError(
            'TENSOR_TOO_LARGE',
            `The prompt has ${bytes} bytes of text; at most ${resolved.maxPromptBytes} are accepted.`,
            { metaMessages: ['Send a shorter prompt.'] },
          )
        call = () => ({ kind: 'text', text: prompt })
      } else
        call = (info) => {
          const tokens = checkTokenArray('prompt', prompt, info.vocabSize, false)
          if (tokens.length + (parameters.maxTokens ?? 1) > info.contextSize)
            throw new BaseError(
              'TENSOR_TOO_LARGE',
              `The prompt has ${tokens.length} tokens and maxTokens is ${parameters.maxTokens ?? 1}: they do not fit the context of ${info.contextSize}.`,
              { metaMessages: ['Shorten the prompt or lower maxTokens.'] },
            )
          return { kind: 'tokens', tokens }
        }
      const { chatTemplate: _, ...completion } = await generate(parameters, call)
      return completion
    },

    async chat(parameters: TextChatParameters) {
      const messages = checkMessages(parameters.messages, resolved.maxPromptBytes)
      const { chatTemplate, ...completion } = await generate(parameters, { kind: 'chat', messages })
      const result: TextChatCompletion = { ...completion, chatTemplate: chatTemplate ?? 'none' }
      return result
    },

    async replay(parameters: TextReplayParameters) {
      const started = performance.now()
      const { id, signal } = parameters
      const { entry, info } = await readyEntry(id)
      const timeoutMs = timeoutFor(entry, parameters.timeoutMs)
      const promptTokens = checkTokenArray(
        'promptTokens',
        parameters.promptTokens,
        info.vocabSize,
        false,
      )
      const tokens = checkTokenArray('tokens', parameters.tokens, info.vocabSize, true)
      const maxTokens = checkMaxTokens(parameters.maxTokens, info)
      if (maxTokens === undefined) throw invalid('maxTokens is required to replay a completion.')
      if (tokens.length > info.contextSize)
        throw new BaseError(
          'TENSOR_TOO_LARGE',
          `tokens has ${tokens.length} entries; no output of this model is longer than ${info.contextSize}.`,
        )
      const stop = checkStop(parameters.stop, resolved.maxStopStrings)
      if (parameters.sampling === null || typeof parameters.sampling !== 'object')
        throw invalid(
          'sampling is required to replay a completion (the result of complete has it).',
        )
      const sampling = resolveSampling(parameters.sampling)
      const jsonSchema = checkJsonSchema(parameters.jsonSchema)
      const reply = await exclusive(id, entry, signal, (process) =>
        process.request<GgufReplayReply>(
          { type: 'replay', id, promptTokens, tokens, maxTokens, stop, sampling, jsonSchema },
          callOptions(`replaying with model "${id}"`, 'ENGINE_RUN_FAILED', {
            timeoutMs,
            signal,
          }),
        ),
      )
      const result: TextReplayResult = {
        ok: reply.ok,
        ...(reply.firstMismatch ? { firstMismatch: reply.firstMismatch } : {}),
        nearTies: reply.nearTies,
        text: reply.text,
        finishReason: reply.finishReason,
        checkedTokens: reply.checkedTokens,
        method: reply.method,
        durationMs: performance.now() - started,
      }
      return result
    },

    async unload(id: string) {
      if (closed) throw closedError()
      const entry = models.get(id)
      if (!entry) return
      models.delete(id)
      const process = current
      if (process?.alive && process.loaded.delete(id)) {
        // The worker answers after the call it is running; remove a private copy after that.
        const call = process.request(
          { type: 'unload', id },
          callOptions(`unloading "${id}"`, 'INTERNAL'),
        )
        call.result.catch(() => {})
        void call.finished.then(() => removeFile(entry))
        return
      }
      // Still loading: loadFirst sees the entry gone and unloads it; the copy goes at close.
      if (entry.info) removeFile(entry)
    },

    async close() {
      if (closed) return
      closed = true
      models.clear()
      for (const waiter of waiting.splice(0)) waiter.reject(closedError())
      const process = await worker?.catch(() => undefined)
      await process?.kill(true)
      if (tempDir) rmSync(tempDir, { recursive: true, force: true })
    },

    stats() {
      return {
        models: [...models.keys()],
        pid: current?.alive ? current.pid : undefined,
        systemInfo: current?.ready.systemInfo || undefined,
        busy,
        queued: waiting.length,
        restarts: Math.max(0, starts - 1),
      }
    },
  }
  return engine
}

async function readHeader(id: string, path: string): Promise<string> {
  try {
    const info = await stat(path)
    if (!info.isFile()) throw new TypeError('not a regular file')
    const handle = await open(path, 'r')
    try {
      const buffer = Buffer.alloc(4)
      const { bytesRead } = await handle.read(buffer, 0, 4, 0)
      return buffer.subarray(0, bytesRead).toString('latin1')
    } finally {
      await handle.close()
    }
  } catch (cause) {
    throw new BaseError('FILE_NOT_FOUND', `Model "${id}": cannot read the GGUF file "${path}".`, {
      metaMessages: ['Check the path (it is read by the engine process and its worker).'],
      details: cause instanceof Error ? cause.message : String(cause),
      cause,
    })
  }
}
