// Benchmark of the LLM path: tokens/s and time to first token through a real node's
// OpenAI-compatible API over HTTP, next to bare node-llama-cpp in this process on the same model
// with the same pinned settings; then replay verification vs generation for several output
// lengths through the GGUF engine directly. Not a test: it prints numbers.
// Run it alone: BENCH_ONLY=llm npm run bench
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createGgufEngine,
  type GgufEngine,
  ggufEngineOptionsFromManifest,
  type TextCompletion,
} from '@verity/engine'
import { buildTinyGguf } from '@verity/models'
import { createLogger, createVerityNode, type VerityNode } from '@verity/node'
import { BaseError, type Manifest } from '@verity/protocol'
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp'
import { privateKeyToAccount } from 'viem/accounts'

/**
 * What {@link benchLlm} runs. Every field has a default (see {@link defaultLlmBenchOptions}).
 *
 * @example
 * ```ts
 * const options: LlmBenchOptions = { ...defaultLlmBenchOptions, repetitions: 3 }
 * ```
 */
export type LlmBenchOptions = {
  /** The GGUF model; when the file is absent the project's tiny GGUF is used instead. */
  modelPath: string
  prompt: string
  /** Tokens per request of the throughput and time-to-first-token phases (greedy). */
  maxTokens: number
  /** Measured runs per phase (after one warm-up run); the median is reported. */
  repetitions: number
  /** Output lengths of the replay-vs-generation phase (clamped to what the model's context allows). */
  replayLengths: number[]
  /** Progress lines; default: none. */
  log?: ((line: string) => void) | undefined
}

/**
 * The defaults: stories260K from `../shared/assets`, "Once upon a time", 128 tokens, 15 runs
 * (`BENCH_LLM_REPETITIONS` overrides),
 * replay of 32-, 128- and 512-token outputs.
 *
 * @example
 * ```ts
 * await benchLlm({ ...defaultLlmBenchOptions, maxTokens: 64 })
 * ```
 */
export const defaultLlmBenchOptions: Readonly<LlmBenchOptions> = Object.freeze({
  modelPath: new URL('../../shared/assets/llm/stories260K.gguf', import.meta.url).pathname,
  prompt: 'Once upon a time',
  maxTokens: 128,
  repetitions: Number(process.env.BENCH_LLM_REPETITIONS ?? 15),
  replayLengths: [32, 128, 512],
})

/**
 * Medians of one way of generating: wall time, time to first token (absent when not measured),
 * generated tokens and tokens per second.
 *
 * @example
 * ```ts
 * const { tokensPerSecond }: GenerationStats = result.api.plain
 * ```
 */
export type GenerationStats = {
  totalMs: number
  timeToFirstTokenMs?: number | undefined
  tokens: number
  tokensPerSecond: number
}

/**
 * One replay row: the output length asked for and produced, generation and replay time (medians)
 * and whether every replay accepted the output.
 *
 * @example
 * ```ts
 * const slower = result.replay.filter((row) => row.ratio > 1)
 * ```
 */
export type ReplayRow = {
  requested: number
  tokens: number
  generateMs: number
  replayMs: number
  /** replayMs / generateMs. */
  ratio: number
  ok: boolean
}

/**
 * What {@link benchLlm} measured.
 *
 * @example
 * ```ts
 * const { model, bare, api, engine, replay } = await benchLlm(defaultLlmBenchOptions)
 * ```
 */
export type LlmBenchResult = {
  model: string
  decoding: { contextSize: number; batchSize: number; threads: number }
  promptTokens: number
  bare: GenerationStats
  engine: { plain: GenerationStats; streaming: GenerationStats }
  api: { plain: GenerationStats; streaming: GenerationStats }
  /** The API's, the engine's and the bare generation's tokens are the same ids (engine vs bare) and text (API vs engine). */
  sameOutput: boolean
  replay: ReplayRow[]
}

const account = privateKeyToAccount(`0x${'11'.repeat(32)}`)

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

type RunSample = { totalMs: number; ttftMs?: number | undefined; tokens: number }

function stats(runs: RunSample[]): GenerationStats {
  const totalMs = median(runs.map((run) => run.totalMs))
  const tokens = median(runs.map((run) => run.tokens))
  const ttft = runs.flatMap((run) => (run.ttftMs === undefined ? [] : [run.ttftMs]))
  return {
    totalMs,
    ...(ttft.length > 0 ? { timeToFirstTokenMs: median(ttft) } : {}),
    tokens,
    tokensPerSecond: median(runs.map((run) => run.tokens / (run.totalMs / 1000))),
  }
}

async function repeat<T>(times: number, run: () => Promise<T>): Promise<T[]> {
  await run() // warm-up
  const results: T[] = []
  for (let i = 0; i < times; i++) results.push(await run())
  return results
}

function failed(what: string, status: number, body: string): BaseError {
  return new BaseError('INTERNAL', `${what} answered HTTP ${status}; expected 200.`, {
    details: body.slice(0, 500),
  })
}

/**
 * Runs the LLM benchmark: a real node on loopback (the model published through `POST /v1/models`),
 * bare node-llama-cpp in this process with the manifest's pinned decoding settings, and the GGUF
 * engine for replay vs generation.
 *
 * @example
 * ```ts
 * const result = await benchLlm({ ...defaultLlmBenchOptions, log: console.error })
 * for (const line of formatLlmBench(result)) console.log(line)
 * ```
 */
export async function benchLlm(options: LlmBenchOptions): Promise<LlmBenchResult> {
  const log = options.log ?? (() => {})
  const dir = await mkdtemp(join(tmpdir(), 'verity-llm-bench-'))
  let node: VerityNode | undefined
  let engine: GgufEngine | undefined
  let bare: BareGenerator | undefined
  try {
    const stories = existsSync(options.modelPath)
    const model = stories ? 'stories260K' : 'tiny (buildTinyGguf)'
    const bytes = stories ? new Uint8Array(await readFile(options.modelPath)) : buildTinyGguf()
    const modelPath = stories ? options.modelPath : join(dir, 'tiny.gguf')
    if (!stories) await writeFile(modelPath, bytes)
    const name = 'bench-llm'

    log(`llm: starting a node and publishing ${model}`)
    node = await createVerityNode(
      { dataDir: join(dir, 'node') },
      { account, logger: createLogger({ level: 'silent' }) },
    )
    const url = await node.start()
    const published = await fetch(`${url}/v1/models?name=${name}&license=MIT`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    })
    if (published.status !== 201 && published.status !== 200)
      throw failed('POST /v1/models', published.status, await published.text())
    const { manifest } = (await published.json()) as { manifest: Manifest }
    const decoding = manifest.gguf?.decoding
    if (!decoding)
      throw new BaseError('MANIFEST_INVALID', 'The published manifest has no gguf.decoding.', {
        metaMessages: ['Publish a GGUF model (the node builds its manifest).'],
      })

    // The engine directly, with a manifest whose maxTokens allows the longest replay row.
    const longest = Math.max(options.maxTokens, ...options.replayLengths)
    const engineManifest: Manifest = {
      ...manifest,
      gguf: {
        ...manifest.gguf!,
        decoding: { ...decoding, maxTokens: Math.min(longest, decoding.contextSize) },
      },
    }
    engine = createGgufEngine({
      ...ggufEngineOptionsFromManifest(engineManifest),
      maxTokens: longest,
    })
    const info = await engine.load({ id: name, path: modelPath, manifest: engineManifest })
    const engineId = name
    const promptTokens = await engine.tokenize({ id: engineId, text: options.prompt })
    const fit = (wanted: number) =>
      Math.min(wanted, info.maxTokens, info.contextSize - promptTokens.length)
    const maxTokens = fit(options.maxTokens)

    const engineRun = (stream: boolean) => async () => {
      let ttftMs: number | undefined
      const started = performance.now()
      const result = await engine!.complete({
        id: engineId,
        prompt: options.prompt,
        maxTokens,
        temperature: 0,
        ...(stream
          ? {
              onToken: () => {
                ttftMs ??= performance.now() - started
              },
            }
          : {}),
      })
      engineOutput = result
      return {
        totalMs: performance.now() - started,
        ttftMs: ttftMs ?? result.timeToFirstTokenMs,
        tokens: result.tokens.length,
      }
    }
    let engineOutput: TextCompletion | undefined

    log('llm: loading the model into bare node-llama-cpp in this process')
    bare = await openBare({
      modelPath,
      decoding,
      promptTokens,
      maxTokens,
    })

    const body = { model: name, prompt: options.prompt, max_tokens: maxTokens, temperature: 0 }
    let apiText = ''
    const apiPlainRun = async () => {
      const started = performance.now()
      const response = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      const text = await response.text()
      const totalMs = performance.now() - started
      if (response.status !== 200) throw failed('POST /v1/completions', response.status, text)
      const parsed = JSON.parse(text) as {
        choices: { text: string }[]
        usage: { completion_tokens: number }
      }
      apiText = parsed.choices[0]?.text ?? ''
      return { totalMs, tokens: parsed.usage.completion_tokens }
    }
    let streamText = ''
    const apiStreamRun = async () => {
      const started = performance.now()
      const response = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
      })
      if (response.status !== 200 || !response.body)
        throw failed('POST /v1/completions (stream)', response.status, await response.text())
      let ttftMs: number | undefined
      let tokens = 0
      let text = ''
      let buffer = ''
      const decoder = new TextDecoder()
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true })
        let end = buffer.indexOf('\n\n')
        while (end >= 0) {
          const event = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          end = buffer.indexOf('\n\n')
          const data = event
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trimStart())
            .join('\n')
          if (data === '' || data === '[DONE]') continue
          const parsed = JSON.parse(data) as {
            choices: { text?: string }[]
            usage?: { completion_tokens: number }
          }
          const piece = parsed.choices[0]?.text ?? ''
          if (piece.length > 0) {
            ttftMs ??= performance.now() - started
            text += piece
          }
          if (parsed.usage) tokens = parsed.usage.completion_tokens
        }
      }
      streamText = text
      return {
        totalMs: performance.now() - started,
        ...(ttftMs === undefined ? {} : { ttftMs }),
        tokens,
      }
    }

    // The four paths take turns, round by round, so drift on a shared machine hits them alike.
    log(
      `llm: ${maxTokens} tokens × ${options.repetitions} rounds of bare, engine, API, API streaming`,
    )
    const bareRun = bare.run
    const paths = [bareRun, engineRun(false), engineRun(true), apiPlainRun, apiStreamRun]
    const rounds = await repeat(options.repetitions, async () => {
      const round: RunSample[] = []
      for (const path of paths) round.push(await path())
      return round
    })
    const column = (index: number) => stats(rounds.map((round) => round[index]!))

    const replay: ReplayRow[] = []
    for (const requested of options.replayLengths) {
      const length = fit(requested)
      log(`llm: replay vs generation, ${length} tokens × ${options.repetitions}`)
      const runs = await repeat(options.repetitions, async () => {
        const generated = await engine!.complete({
          id: engineId,
          prompt: promptTokens,
          maxTokens: length,
          temperature: 0,
        })
        const verdict = await engine!.replay({ id: engineId, ...generated })
        return {
          generateMs: generated.durationMs,
          replayMs: verdict.durationMs,
          tokens: generated.tokens.length,
          ok: verdict.ok,
        }
      })
      const generateMs = median(runs.map((run) => run.generateMs))
      const replayMs = median(runs.map((run) => run.replayMs))
      replay.push({
        requested,
        tokens: median(runs.map((run) => run.tokens)),
        generateMs,
        replayMs,
        ratio: replayMs / generateMs,
        ok: runs.every((run) => run.ok),
      })
    }

    return {
      model,
      decoding: {
        contextSize: decoding.contextSize,
        batchSize: decoding.batchSize,
        threads: decoding.threads,
      },
      promptTokens: promptTokens.length,
      bare: column(0),
      engine: { plain: column(1), streaming: column(2) },
      api: { plain: column(3), streaming: column(4) },
      sameOutput:
        JSON.stringify(bare.tokens()) === JSON.stringify(engineOutput!.tokens) &&
        apiText === engineOutput!.text &&
        streamText === engineOutput!.text,
      replay,
    }
  } finally {
    await bare?.close()
    await engine?.close()
    await node?.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

type BareParameters = {
  modelPath: string
  decoding: { contextSize: number; batchSize: number; threads: number }
  promptTokens: readonly number[]
  maxTokens: number
}

type BareGenerator = {
  run(): Promise<RunSample>
  /** The tokens of the last run. */
  tokens(): number[]
  close(): Promise<void>
}

// Bare node-llama-cpp with the engine worker's context options (see packages/engine/src/gguf/
// ggufWorker.ts): CPU only, prebuilt binary, F32 KV cache, one sequence, no flash attention.
async function openBare(parameters: BareParameters): Promise<BareGenerator> {
  const { decoding } = parameters
  const llama = await getLlama({
    gpu: false,
    build: 'never',
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    maxThreads: decoding.threads,
    logLevel: LlamaLogLevel.error,
  })
  const model = await llama.loadModel({ modelPath: parameters.modelPath, gpuLayers: 0 })
  const context = await model.createContext({
    contextSize: decoding.contextSize,
    batchSize: decoding.batchSize,
    threads: { ideal: decoding.threads, min: decoding.threads },
    sequences: 1,
    flashAttention: false,
    experimentalKvCacheKeyType: 'F32',
    experimentalKvCacheValueType: 'F32',
    failedCreationRemedy: false,
  })
  const sequence = context.getSequence()
  let last: Token[] = []
  return {
    async run() {
      const started = performance.now()
      await sequence.clearHistory()
      const generated: Token[] = []
      let ttftMs: number | undefined
      const iterator = sequence.evaluate(parameters.promptTokens as Token[], {
        temperature: 0,
        yieldEogToken: true,
      })
      try {
        for await (const token of iterator) {
          ttftMs ??= performance.now() - started
          generated.push(token)
          if (generated.length >= parameters.maxTokens || model.isEogToken(token)) break
        }
      } finally {
        await iterator.return()
      }
      last = generated
      return { totalMs: performance.now() - started, ttftMs, tokens: generated.length }
    },
    tokens: () => [...last],
    async close() {
      await context.dispose()
      await model.dispose()
      await llama.dispose()
    },
  }
}

/**
 * The result as table lines, ratios next to the bare baseline.
 *
 * @example
 * ```ts
 * for (const line of formatLlmBench(await benchLlm(defaultLlmBenchOptions))) console.log(line)
 * ```
 */
export function formatLlmBench(result: LlmBenchResult): string[] {
  const { decoding } = result
  const lines = [
    `LLM (${result.model}; greedy; ${result.promptTokens} prompt tokens; context ${decoding.contextSize}, batch ${decoding.batchSize}, ${decoding.threads} thread(s); F32 KV cache; medians; bare = node-llama-cpp in this process, same settings)`,
  ]
  const row = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(26) : cell.padStart(13))).join('')
  const fmt = (v: number | undefined, d = 1) => (v === undefined ? '-' : v.toFixed(d))
  lines.push(
    row(['path', 'tokens', 'total ms', 'tokens/s', 'tok/s ratio', 'TTFT ms', 'TTFT ratio']),
  )
  const bare = result.bare
  for (const [label, s] of [
    ['bare node-llama-cpp', bare],
    ['engine complete()', result.engine.plain],
    ['engine complete(onToken)', result.engine.streaming],
    ['API /v1/completions', result.api.plain],
    ['API /v1/completions SSE', result.api.streaming],
  ] as const)
    lines.push(
      row([
        label,
        fmt(s.tokens, 0),
        fmt(s.totalMs),
        fmt(s.tokensPerSecond, 0),
        `${fmt(bare.tokensPerSecond / s.tokensPerSecond, 2)}x`,
        fmt(s.timeToFirstTokenMs, 2),
        s.timeToFirstTokenMs === undefined || bare.timeToFirstTokenMs === undefined
          ? '-'
          : `${fmt(s.timeToFirstTokenMs / bare.timeToFirstTokenMs, 2)}x`,
      ]),
    )
  lines.push(
    `(tok/s ratio = bare tokens/s ÷ this path's: the overhead; same output as bare: ${result.sameOutput ? 'yes' : 'NO'})`,
  )
  lines.push('')
  lines.push('LLM replay verification vs generation (engine directly; greedy; medians)')
  lines.push(row(['output', 'tokens', 'generate ms', 'replay ms', 'replay/gen', 'accepted']))
  for (const r of result.replay)
    lines.push(
      row([
        `${r.requested} tokens asked`,
        fmt(r.tokens, 0),
        fmt(r.generateMs),
        fmt(r.replayMs),
        `${fmt(r.ratio, 3)}x`,
        r.ok ? 'yes' : 'NO',
      ]),
    )
  return lines
}
