/**
 * `npm run bench`: Verity's figures next to baselines measured in the same run (ratios), because
 * these machines are shared and noisy. Not a test: it asserts nothing, it reports.
 *
 * - engine: latency p50/p99 and throughput of the demo models through the Verity engine
 *   (validation, worker process, conversion) vs a bare onnxruntime-node session on the same model
 *   with the same pinned settings;
 * - receipts: signed and verified per second vs the bare secp256k1 sign/recover they rest on;
 * - network: verified inference on a real devnet (anvil, contracts, 4 node processes) per mode and
 *   concurrency vs a bare onnxruntime-node session, and the settlement gas paid per inference;
 * - llm: tokens/s and time to first token through a node's OpenAI-compatible API vs bare
 *   node-llama-cpp on the same GGUF model and settings, and replay verification vs generation time.
 *
 * - zk: for the demo int8 MLP and CNN, constraints, compile/setup/witness/prove times, prover
 *   memory, proof size, offline verification time and on-chain gas, next to the plain inference
 *   time of the same model (the ZK overhead ratio).
 *
 * `BENCH_ONLY=engine,receipts,network,llm,zk` (any subset) runs only those sections; default all of them.
 * The network section's knobs: see `networkBenchOptionsFromEnv` in networkBench.ts.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createOnnxEngineDescriptor,
  defaultOnnxEngineOptions,
  supportedOnnxOperators,
} from '@verity/engine'
import { createModelStore } from '@verity/hub'
import { demoModelFiles, writeDemoModels } from '@verity/models'
import { namedTensorsFromJson } from '@verity/protocol'
import { benchEngine } from './engineBench.ts'
import { benchLlm, defaultLlmBenchOptions, formatLlmBench } from './llmBench.ts'
import { benchNetwork, formatNetworkBench, networkBenchOptionsFromEnv } from './networkBench.ts'
import { benchReceipts } from './receiptBench.ts'
import {
  benchZk,
  benchZkAccuracy,
  createZkGasMeter,
  formatZkAccuracy,
  formatZkBench,
} from './zkBench.ts'

const sections = ['engine', 'receipts', 'network', 'llm', 'zk'] as const
const only = (process.env.BENCH_ONLY ?? sections.join(','))
  .split(',')
  .map((name) => name.trim())
  .filter(Boolean)
for (const name of only)
  if (!(sections as readonly string[]).includes(name)) {
    console.error(`BENCH_ONLY: unknown section "${name}"; expected any of ${sections.join(', ')}.`)
    process.exit(2)
  }
const runs = (section: (typeof sections)[number]) => only.includes(section)

const iterations = Number(process.env.BENCH_ITERATIONS ?? 2000)
const dir = await mkdtemp(join(tmpdir(), 'verity-bench-'))
try {
  console.log(
    `Verity bench — Node ${process.versions.node}, ${iterations} runs per phase (sections: ${only.join(', ')})\n`,
  )
  if (runs('engine')) await engineSection()
  if (runs('receipts')) {
    console.log('\nReceipts (per second; baseline = bare secp256k1 operation on a 32-byte hash)')
    for (const row of await benchReceipts())
      console.log(
        `${row.name.padEnd(40)}${row.perSecond.toFixed(0).padStart(8)}/s   baseline ${row.baselinePerSecond.toFixed(0).padStart(6)}/s   ratio ${row.ratio.toFixed(2)}`,
      )
  }
  if (runs('network')) {
    console.log('')
    const result = await benchNetwork({
      ...networkBenchOptionsFromEnv(process.env),
      // the engine section built the demo models already: the devnet reuses them
      ...(runs('engine') ? { demoModelsDir: join(dir, 'demo') } : {}),
      log: (line) => console.error(line),
    })
    for (const line of formatNetworkBench(result)) console.log(line)
  }
  if (runs('llm')) {
    console.log('')
    if (!existsSync(defaultLlmBenchOptions.modelPath))
      console.log(
        `LLM: ${defaultLlmBenchOptions.modelPath} absent (../shared/assets): measuring the project's tiny GGUF instead.`,
      )
    const result = await benchLlm({
      ...defaultLlmBenchOptions,
      log: (line) => console.error(line),
    })
    for (const line of formatLlmBench(result)) console.log(line)
  }
  if (runs('zk')) {
    console.log('')
    const gasMeter = await createZkGasMeter()
    const result = await benchZk({
      dir: join(dir, 'zk'),
      proofs: Number(process.env.BENCH_ZK_PROOFS ?? 3),
      measureGas: gasMeter.measure,
      log: (line) => console.error(line),
    }).finally(() => gasMeter.stop())
    for (const line of formatZkBench(result)) console.log(line)
    for (const line of formatZkAccuracy(
      await benchZkAccuracy({ mnistCount: Number(process.env.BENCH_ZK_MNIST ?? 2000) }),
    ))
      console.log(line)
  }
} finally {
  await rm(dir, { recursive: true, force: true })
}

async function engineSection(): Promise<void> {
  const demo = await writeDemoModels(join(dir, 'demo'))
  const store = createModelStore({ dir: join(dir, 'store') })
  const engine = createOnnxEngineDescriptor(defaultOnnxEngineOptions)
  const sample = demo.samples[0]!
  const rows: string[][] = []
  for (const [name, file, input] of [
    ['digits-mlp (float32)', demoModelFiles.floatModel, sample.floatInput],
    ['digits-mlp-int8', demoModelFiles.int8Model, sample.int8Input],
  ] as const) {
    const bytes = name.includes('int8') ? demo.int8Model : demo.floatModel
    const added = await store.add({
      bytes,
      name: name.split(' ')[0]!,
      engine,
      supportedOperators: supportedOnnxOperators,
    })
    const result = await benchEngine({
      modelPath: join(demo.outDir, file),
      inputs: namedTensorsFromJson(input),
      manifest: added.manifest,
      iterations,
    })
    const fmt = (v: number, d = 3) => v.toFixed(d)
    rows.push([
      name,
      fmt(result.bare.p50Ms),
      fmt(result.bare.p99Ms),
      fmt(result.bare.throughputPerSecond, 0),
      fmt(result.engine.p50Ms),
      fmt(result.engine.p99Ms),
      fmt(result.engine.throughputPerSecond, 0),
      `${fmt(result.overheadRatio, 2)}x`,
      result.outputsMatch ? 'yes' : 'NO',
    ])
  }
  const header = [
    'model',
    'bare p50',
    'bare p99',
    'bare /s',
    'verity p50',
    'verity p99',
    'verity /s',
    'p50 ratio',
    'same out',
  ]
  console.log(
    'Engine (ms; throughput with 8 requests in flight; bare = onnxruntime-node InferenceSession, same settings)',
  )
  for (const row of [header, ...rows])
    console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(22) : cell.padStart(11))).join(''))
}
