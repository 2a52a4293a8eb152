// Benchmark of the ONNX engine against a bare onnxruntime-node session, in the same process run.
// Not a test: it prints numbers. Run it directly:
//   node bench/engineBench.ts [model.onnx] [iterations]
// (default: the ONNX Model Zoo's mnist-8 from ../shared/assets).
import { existsSync, readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  createOnnxEngine,
  createOnnxEngineDescriptor,
  defaultOnnxEngineOptions,
  type OnnxEngineOptionsInput,
  onnxSessionOptions,
  resolveOnnxEngineOptions,
} from '@verity/engine'
import {
  type EngineDescriptor,
  encodeTensors,
  type Manifest,
  type NamedTensors,
  parseManifest,
  type Tensor,
} from '@verity/protocol'
import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node'

/** What {@link benchEngine} measures: a model file, its inputs and manifest. */
export type EngineBenchParameters = {
  modelPath: string
  inputs: NamedTensors
  manifest: Manifest
  /** Measured runs per phase (latency, then throughput); default 1000. */
  iterations?: number
  /** Requests kept in flight for the throughput phase; default 8. */
  concurrency?: number
  /** Options of the Verity engine under test (default: the pinned defaults, 1 worker). */
  engineOptions?: OnnxEngineOptionsInput
}

/** Latency percentiles at concurrency 1 and throughput with `concurrency` requests in flight. */
export type EngineBenchSide = {
  p50Ms: number
  p99Ms: number
  meanMs: number
  throughputPerSecond: number
}

/** The two measurements side by side, with the engine's overhead. */
export type EngineBenchResult = {
  model: string
  iterations: number
  concurrency: number
  workers: number
  descriptor: EngineDescriptor
  /** A bare `InferenceSession` on the main thread, same session options, no validation. */
  bare: EngineBenchSide
  /** The Verity engine: validation, IPC to a worker process, conversion, output checks. */
  engine: EngineBenchSide
  /** engine p50 / bare p50. */
  overheadRatio: number
  /** Both paths produced the same output bytes. */
  outputsMatch: boolean
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN
}

async function measure(
  runOnce: () => Promise<unknown>,
  iterations: number,
  concurrency: number,
): Promise<EngineBenchSide> {
  for (let i = 0; i < Math.max(20, Math.floor(iterations / 10)); i++) await runOnce() // warm-up
  const latencies: number[] = []
  for (let i = 0; i < iterations; i++) {
    const started = performance.now()
    await runOnce()
    latencies.push(performance.now() - started)
  }
  latencies.sort((a, b) => a - b)
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < iterations) await runOnce()
    }),
  )
  const seconds = (performance.now() - started) / 1000
  return {
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    meanMs: latencies.reduce((sum, value) => sum + value, 0) / latencies.length,
    throughputPerSecond: iterations / seconds,
  }
}

/**
 * Measures, in one process run, (a) a bare onnxruntime-node `InferenceSession` on the main thread
 * and (b) the Verity ONNX engine (input validation, worker process, output conversion and
 * checks), both with the engine's pinned session options: warm-up, then p50/p99 latency at
 * concurrency 1, then throughput with `concurrency` requests in flight.
 *
 * @example
 * ```ts
 * const result = await benchEngine({ modelPath: 'mnist-8.onnx', inputs: { Input3: image }, manifest })
 * console.log(result.overheadRatio)
 * ```
 */
export async function benchEngine(parameters: EngineBenchParameters): Promise<EngineBenchResult> {
  const iterations = parameters.iterations ?? 1000
  const concurrency = parameters.concurrency ?? 8
  const options = resolveOnnxEngineOptions(parameters.engineOptions)
  const bytes = readFileSync(parameters.modelPath)
  const outputNames = parameters.manifest.outputs.map((spec) => spec.name)

  const session = await InferenceSession.create(bytes, onnxSessionOptions(options))
  const feeds = () =>
    Object.fromEntries(
      Object.entries(parameters.inputs).map(([name, tensor]) => [
        name,
        new OrtTensor(tensor.dtype as 'float32', tensor.data as Float32Array, tensor.shape),
      ]),
    )
  const bareRun = () => session.run(feeds(), outputNames)
  const bare = await measure(bareRun, iterations, concurrency)
  const bareResults = await bareRun()
  const bareOutputs: Record<string, Tensor> = {}
  for (const spec of parameters.manifest.outputs) {
    const value = bareResults[spec.name]!
    bareOutputs[spec.name] = {
      dtype: spec.dtype,
      shape: [...value.dims],
      data: (value.data as Float32Array).slice(),
    }
  }
  await session.release()

  const engine = createOnnxEngine(options)
  try {
    await engine.load({ id: 'bench', bytes, manifest: parameters.manifest })
    const engineRun = () => engine.run({ id: 'bench', inputs: parameters.inputs })
    const measured = await measure(engineRun, iterations, concurrency)
    const { outputs } = await engineRun()
    const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0
    return {
      model: basename(parameters.modelPath),
      iterations,
      concurrency,
      workers: options.workers,
      descriptor: engine.descriptor,
      bare,
      engine: measured,
      overheadRatio: measured.p50Ms / bare.p50Ms,
      outputsMatch: same(encodeTensors(outputs), encodeTensors(bareOutputs)),
    }
  } finally {
    await engine.close()
  }
}

async function main(): Promise<void> {
  const assets = fileURLToPath(new URL('../../shared/assets/', import.meta.url))
  const modelPath = process.argv[2] ?? `${assets}onnx/onnx-model-zoo-mnist/mnist-8.onnx`
  const iterations = Number(process.argv[3] ?? 2000)
  if (!existsSync(modelPath)) {
    console.error(
      `Model not found: ${modelPath} (pass a path, or put ../shared/assets beside the repo).`,
    )
    process.exitCode = 1
    return
  }
  // Without arguments: mnist-8 on the zoo's first sample (a "5"); zeros if the JSON is absent.
  const samples = `${assets}onnx/onnx-model-zoo-mnist/test_data_npz_as_json.json`
  const pixels = existsSync(samples)
    ? (
        JSON.parse(readFileSync(samples, 'utf8')) as {
          samples: { input_uint8_0_255_row_major_28x28: number[] }[]
        }
      ).samples[0]!.input_uint8_0_255_row_major_28x28
    : new Array(784).fill(0)
  if (process.argv[2]) console.log('Custom models need their own inputs: call benchEngine().')
  const manifest = parseManifest({
    schema: 'verity.manifest/1',
    name: 'mnist-8',
    version: '1.0.0',
    format: 'onnx',
    cid: `bafkrei${'a'.repeat(52)}`,
    size: readFileSync(modelPath).length,
    inputs: [{ name: 'Input3', dtype: 'float32', shape: [1, 1, 28, 28] }],
    outputs: [{ name: 'Plus214_Output_0', dtype: 'float32', shape: [1, 10] }],
    comparison: { kind: 'tolerance', absolute: 1e-5, relative: 1e-5 },
    engine: createOnnxEngineDescriptor(defaultOnnxEngineOptions),
    limits: { maxInputBytes: 1 << 20, maxDim: 1 << 16, timeoutMs: 30_000 },
    license: 'MIT',
    pricing: { perCall: '0' },
  })
  const inputs = {
    Input3: { dtype: 'float32', shape: [1, 1, 28, 28], data: Float32Array.from(pixels) },
  } as const
  const rows: [string, EngineBenchSide][] = []
  let first: EngineBenchResult | undefined
  for (const workers of [1, 2]) {
    const result = await benchEngine({
      modelPath,
      inputs,
      manifest,
      iterations,
      engineOptions: { workers },
    })
    first ??= result
    if (rows.length === 0) rows.push(['bare onnxruntime-node, main thread', result.bare])
    rows.push([`Verity engine, ${workers} worker${workers > 1 ? 's' : ''}`, result.engine])
    if (!result.outputsMatch) console.error('WARNING: engine and bare outputs differ')
  }
  const settings = first!.descriptor.settings
  console.log(
    `${first!.model}: ${iterations} runs per phase, ${first!.concurrency} in flight for throughput; ` +
      `onnxruntime-node ${first!.descriptor.version}, ${settings.graphOptimizationLevel}, ` +
      `${settings.intraOpNumThreads} intra-op thread, ${settings.isa}, Node ${process.versions.node}`,
  )
  const pad = (text: string, width: number) => text.padEnd(width)
  const num = (value: number, digits: number) => value.toFixed(digits).padStart(9)
  console.log(
    `${pad('', 38)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'mean ms'.padStart(9)}${'runs/s'.padStart(9)}`,
  )
  for (const [label, side] of rows)
    console.log(
      `${pad(label, 38)}${num(side.p50Ms, 3)}${num(side.p99Ms, 3)}${num(side.meanMs, 3)}${num(side.throughputPerSecond, 0)}`,
    )
  console.log(`overhead (engine p50 / bare p50, 1 worker): ${first!.overheadRatio.toFixed(2)}x`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
