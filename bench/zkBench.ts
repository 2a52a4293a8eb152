/**
 * ZK section of `npm run bench`: for the demo int8 MLP (pot14) and CNN (pot16), the circuit's
 * size, compile / setup / witness / prove times, the prover's peak memory, proof size, offline
 * verification time (the protocol's pairing check, and snarkjs's), and — next to them, measured in
 * the same run — the plain inference time of the same ONNX model in a bare onnxruntime-node
 * session: the ZK overhead ratio. On-chain verification gas comes from `measureGas` when given.
 */
import { existsSync, readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { deployZkVerifier, measureZkVerifierGas, startAnvil } from '@verity/contracts'
import { buildDemoCnn, buildDemoModels, generateDigits } from '@verity/models'
import { canonicalJson, verifyGroth16 } from '@verity/protocol'
import {
  compileZkModel,
  createGroth16Prover,
  createZkArtifactStore,
  encodeGroth16Proof,
  loadPowersOfTau,
  loadZkGraph,
  measureZkAccuracy,
  proveZkInference,
  setupZkModel,
  verifyGroth16Proof,
  type ZkModelArtifacts,
} from '@verity/zk'
import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node'
import { createPublicClient, createWalletClient, defineChain, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'

/** Where the phase-1 fixtures live (../shared/assets/zk). */
export const zkBenchPtau = {
  pot14: new URL('../../shared/assets/zk/pot14_final.ptau', import.meta.url).pathname,
  pot16: new URL('../../shared/assets/zk/pot16_final.ptau', import.meta.url).pathname,
}

/**
 * Measures on-chain verification on a private anvil: each model's generated Groth16 verifier and
 * its `ZkModelVerifier` adapter are deployed, and one real proof is checked in real transactions
 * (`measureZkVerifierGas`: gas used, calldata included).
 *
 * @example
 * ```ts
 * const meter = await createZkGasMeter()
 * await benchZk({ dir, proofs: 3, measureGas: meter.measure, log }).finally(meter.stop)
 * ```
 */
export async function createZkGasMeter(): Promise<{
  measure: NonNullable<Parameters<typeof benchModel>[0]['measureGas']>
  stop: () => Promise<void>
}> {
  const anvil = await startAnvil({ port: 0 })
  const chain = defineChain({
    id: anvil.chainId,
    name: 'bench',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [anvil.rpcUrl] } },
  })
  const transport = http(anvil.rpcUrl, { retryCount: 0 })
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 })
  const walletClient = createWalletClient({
    account: privateKeyToAccount(anvil.privateKeys[0]!),
    chain,
    transport,
    pollingInterval: 50,
  })
  return {
    async measure(artifacts, proofHex, image, outputs) {
      const size = (shape: readonly number[]) => shape.reduce((product, dim) => product * dim, 1)
      const deployed = await deployZkVerifier({
        publicClient,
        walletClient,
        solidityVerifier: artifacts.solidityVerifier,
        modelCommitment: BigInt(artifacts.manifestZk.modelCommitment),
        inputLength: size(artifacts.manifestZk.input.shape),
        outputCount: size(artifacts.manifestZk.output.shape),
      })
      const gas = await measureZkVerifierGas({
        publicClient,
        walletClient,
        groth16Verifier: deployed.groth16Verifier,
        adapter: deployed.adapter,
        groth16Proof: proofHex,
        input: image,
        outputs,
      })
      return { verifier: Number(gas.groth16Verifier.gasUsed), adapter: Number(gas.adapter.gasUsed) }
    },
    stop: () => anvil.stop(),
  }
}

/** Top-1 agreement of a quantized (integer) model with its float original. */
export type ZkAccuracyRow = {
  model: string
  testSet: string
  count: number
  agreement: number
  integerAccuracy?: number | undefined
  floatAccuracy?: number | undefined
  constraints?: number | undefined
}

const mnistDir = new URL('../../shared/assets/', import.meta.url).pathname

function readMnist(count: number): { images: Uint8Array[]; labels: number[] } | undefined {
  const imagesPath = `${mnistDir}mnist/t10k-images-idx3-ubyte.gz`
  const labelsPath = `${mnistDir}mnist/t10k-labels-idx1-ubyte.gz`
  if (!existsSync(imagesPath) || !existsSync(labelsPath)) return undefined
  const images = gunzipSync(readFileSync(imagesPath))
  const labels = gunzipSync(readFileSync(labelsPath))
  return {
    images: Array.from(
      { length: count },
      (_, i) => new Uint8Array(images.subarray(16 + i * 784, 16 + (i + 1) * 784)),
    ),
    labels: Array.from(labels.subarray(8, 8 + count)),
  }
}

/**
 * Accuracy of the quantized models the circuits compute, against their float originals: the demo
 * MLP and CNN (the recipe's own int8 models, on the held-out synthetic test set), the float demo
 * MLP quantized by the zk compiler from calibration images, and — with ../shared/assets — the
 * model zoo's mnist-12-int8 (integer evaluator = what its circuit would compute) against float
 * mnist-12 on MNIST test images, and mnist-8 quantized by the zk compiler (calibrated on the first
 * 500 test images, measured on the others).
 *
 * @example
 * ```ts
 * const rows = await benchZkAccuracy({ mnistCount: 2000 })
 * ```
 */
export async function benchZkAccuracy(options: { mnistCount: number }): Promise<ZkAccuracyRow[]> {
  const rows: ZkAccuracyRow[] = []
  const mlp = await buildDemoModels()
  rows.push({
    model: 'digits-mlp-int8 (recipe quantization)',
    testSet: 'synthetic digits (held out)',
    count: mlp.recipe.testCount,
    agreement: mlp.metrics.agreement,
    integerAccuracy: mlp.metrics.int8TestAccuracy,
    floatAccuracy: mlp.metrics.floatTestAccuracy,
  })
  const cnn = await buildDemoCnn()
  rows.push({
    model: 'digits-cnn-int8 (recipe quantization)',
    testSet: 'synthetic digits (held out)',
    count: cnn.recipe.testCount,
    agreement: cnn.metrics.agreement,
    integerAccuracy: cnn.metrics.int8TestAccuracy,
    floatAccuracy: cnn.metrics.floatTestAccuracy,
  })
  const test = generateDigits({ count: 1000, seed: mlp.recipe.data.testSeed })
  const calibration = generateDigits({ count: 300, seed: mlp.recipe.data.trainSeed }).images
  const quantized = compileZkModel(mlp.floatModel, { calibration })
  const measured = measureZkAccuracy({
    graph: quantized.graph,
    reference: quantized.floatGraph!,
    inputs: test.images,
    labels: test.labels,
  })
  rows.push({
    model: 'digits-mlp float → zk compiler quantization',
    testSet: 'synthetic digits (held out)',
    count: measured.count,
    agreement: measured.agreement,
    integerAccuracy: measured.integerAccuracy,
    floatAccuracy: measured.referenceAccuracy,
    constraints: quantized.estimatedConstraints,
  })
  const zoo = `${mnistDir}onnx/onnx-model-zoo-mnist/`
  const mnist = readMnist(options.mnistCount)
  if (mnist && existsSync(`${zoo}mnist-12-int8.onnx`)) {
    const int8 = compileZkModel(readFileSync(`${zoo}mnist-12-int8.onnx`), { name: 'mnist-12-int8' })
    const zooFloat = loadZkGraph(readFileSync(`${zoo}mnist-12.onnx`))
    const result = measureZkAccuracy({
      graph: int8.graph,
      reference: zooFloat,
      inputs: mnist.images,
      labels: mnist.labels,
    })
    rows.push({
      model: 'mnist-12-int8 (model zoo, QLinear) vs mnist-12',
      testSet: 'MNIST t10k',
      count: result.count,
      agreement: result.agreement,
      integerAccuracy: result.integerAccuracy,
      floatAccuracy: result.referenceAccuracy,
      constraints: int8.estimatedConstraints,
    })
    const mnist8 = compileZkModel(readFileSync(`${zoo}mnist-8.onnx`), {
      name: 'mnist-8',
      calibration: mnist.images.slice(0, 500).map((image) => Float32Array.from(image)),
      quantization: { inputScale: 1 },
    })
    const rest = measureZkAccuracy({
      graph: mnist8.graph,
      reference: mnist8.floatGraph!,
      inputs: mnist.images.slice(500),
      labels: mnist.labels.slice(500),
      referenceInput: (bytes) => Float64Array.from(bytes),
    })
    rows.push({
      model: 'mnist-8 float → zk compiler quantization',
      testSet: 'MNIST t10k (calibrated on the first 500)',
      count: rest.count,
      agreement: rest.agreement,
      integerAccuracy: rest.integerAccuracy,
      floatAccuracy: rest.referenceAccuracy,
      constraints: mnist8.estimatedConstraints,
    })
  }
  return rows
}

/**
 * The accuracy rows as printed lines.
 *
 * @example
 * ```ts
 * formatZkAccuracy(rows).forEach((line) => console.log(line))
 * ```
 */
export function formatZkAccuracy(rows: readonly ZkAccuracyRow[]): string[] {
  const pct = (value: number | undefined) =>
    value === undefined ? '—' : `${(value * 100).toFixed(2)}%`
  return [
    'ZK accuracy (top-1 agreement of the integer model a circuit computes with its float original)',
    ...rows.map(
      (row) =>
        `  ${row.model}: agreement ${pct(row.agreement)} on ${row.count} ${row.testSet}; accuracy integer ${pct(row.integerAccuracy)} / float ${pct(row.floatAccuracy)}${row.constraints ? `; ≈${row.constraints} constraints` : ''}`,
    ),
  ]
}

/** One model's ZK figures. */
export type ZkBenchRow = {
  model: string
  constraints: number
  compileMs: number
  setupMs: number
  contributionMs: number
  witnessMs: number
  proveMs: number
  peakMemoryBytes: number
  proofBytes: number
  receiptZkBytes: number
  verifyNobleMs: number
  verifySnarkjsMs: number
  plainInferenceMs: number
  overheadRatio: number
  gas?: { verifier: number; adapter: number } | undefined
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

async function plainInference(onnx: Uint8Array, image: Uint8Array, runs: number): Promise<number> {
  const session = await InferenceSession.create(onnx, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  })
  const input = new OrtTensor('uint8', image, [1, 1, 28, 28])
  const feeds = { [session.inputNames[0]!]: input }
  for (let i = 0; i < 20; i++) await session.run(feeds)
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    await session.run(feeds)
    times.push(performance.now() - started)
  }
  await session.release()
  return median(times)
}

async function benchModel(parameters: {
  model: string
  onnx: Uint8Array
  images: Uint8Array[]
  ptauPath: string
  dir: string
  measureGas?:
    | ((
        artifacts: ZkModelArtifacts,
        proofHex: `0x${string}`,
        image: Uint8Array,
        outputs: Int32Array,
      ) => Promise<{ verifier: number; adapter: number }>)
    | undefined
  log: (line: string) => void
}): Promise<ZkBenchRow> {
  const { model, onnx, images, dir, log } = parameters
  log(`zk: setting up ${model} (compile, phase 2 on ${parameters.ptauPath.split('/').at(-1)})…`)
  const artifacts = await setupZkModel({
    onnx,
    name: model,
    ptau: await loadPowersOfTau(parameters.ptauPath),
    contributors: [{ name: 'bench' }],
    beacon: { hash: `0x${'be'.repeat(32)}`, iterationsExp: 10 },
  })
  const store = createZkArtifactStore({ dir: `${dir}/${model}` })
  await store.put(artifacts)
  const proving = await store.load(artifacts.manifestZk)
  const prover = createGroth16Prover()
  let peak = 0
  const baseline = process.memoryUsage().rss
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss - baseline)
  }, 10)
  const witness: number[] = []
  const prove: number[] = []
  let last: Awaited<ReturnType<typeof proveZkInference>> | undefined
  try {
    for (const image of images) {
      log(`zk: proving ${model} (${witness.length + 1}/${images.length})…`)
      last = await proveZkInference({ prover, artifacts: proving, input: image })
      witness.push(last.witnessMs)
      prove.push(last.proveMs)
    }
  } finally {
    clearInterval(sampler)
  }
  const { zk, outputs } = last!
  const noble: number[] = []
  const snark: number[] = []
  for (let i = 0; i < 5; i++) {
    let started = performance.now()
    verifyGroth16({
      verificationKey: zk.verificationKey,
      publicSignals: zk.publicSignals,
      proof: zk.proof,
    })
    noble.push(performance.now() - started)
    started = performance.now()
    await verifyGroth16Proof(zk.verificationKey as never, zk.publicSignals, zk.proof as never)
    snark.push(performance.now() - started)
  }
  const proofHex = encodeGroth16Proof(zk.proof as never)
  const plainInferenceMs = await plainInference(onnx, images[0]!, 500)
  const proveMs = median(prove)
  const gas = parameters.measureGas
    ? await parameters.measureGas(artifacts, proofHex, images.at(-1)!, outputs)
    : undefined
  return {
    model,
    constraints: artifacts.manifestZk.constraints,
    compileMs: artifacts.timings.compileMs,
    setupMs: artifacts.timings.setupMs,
    contributionMs: artifacts.timings.contributionsMs,
    witnessMs: median(witness),
    proveMs,
    peakMemoryBytes: peak,
    proofBytes: (proofHex.length - 2) / 2,
    receiptZkBytes: canonicalJson(zk).length,
    verifyNobleMs: median(noble),
    verifySnarkjsMs: median(snark),
    plainInferenceMs,
    overheadRatio: (median(witness) + proveMs) / plainInferenceMs,
    ...(gas ? { gas } : {}),
  }
}

/**
 * Runs the ZK section: the demo MLP on pot14 and the demo CNN on pot16 (each skipped when its
 * phase-1 file is absent), `proofs` proofs each.
 *
 * @example
 * ```ts
 * for (const line of formatZkBench(await benchZk({ dir, proofs: 3, log: console.error }))) console.log(line)
 * ```
 */
export async function benchZk(options: {
  dir: string
  proofs: number
  measureGas?: Parameters<typeof benchModel>[0]['measureGas']
  log: (line: string) => void
}): Promise<{ rows: ZkBenchRow[]; skipped: string[] }> {
  const rows: ZkBenchRow[] = []
  const skipped: string[] = []
  const mlp = await buildDemoModels({ trainCount: 4000, testCount: 200, epochs: 4 })
  const cnn = await buildDemoCnn()
  const models = [
    ['digits-mlp-int8', mlp.int8Model, mlp.samples.map((s) => s.image), zkBenchPtau.pot14],
    ['digits-cnn-int8', cnn.int8Onnx, cnn.samples.map((s) => s.image), zkBenchPtau.pot16],
  ] as const
  for (const [model, onnx, images, ptauPath] of models) {
    if (!existsSync(ptauPath)) {
      skipped.push(`${model}: ${ptauPath} absent`)
      continue
    }
    rows.push(
      await benchModel({
        model,
        onnx,
        images: images.slice(0, options.proofs),
        ptauPath,
        dir: options.dir,
        measureGas: options.measureGas,
        log: options.log,
      }),
    )
  }
  return { rows, skipped }
}

/**
 * The ZK section as printed lines.
 *
 * @example
 * ```ts
 * formatZkBench(result).forEach((line) => console.log(line))
 * ```
 */
export function formatZkBench(result: { rows: ZkBenchRow[]; skipped: string[] }): string[] {
  const lines = [
    'ZK (Groth16, circom2 + snarkjs; witness and proof in worker threads; plain = bare onnxruntime-node run of the same int8 model)',
  ]
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`
  for (const row of result.rows) {
    lines.push(
      `${row.model}: ${row.constraints} constraints; compile ${s(row.compileMs)}, phase-2 setup ${s(row.setupMs)} + ${s(row.contributionMs)} per contribution`,
      `  witness ${row.witnessMs.toFixed(0)} ms, prove ${row.proveMs.toFixed(0)} ms, prover peak memory +${(row.peakMemoryBytes / 2 ** 20).toFixed(0)} MiB`,
      `  proof ${row.proofBytes} B (ABI), receipt zk section ${(row.receiptZkBytes / 1024).toFixed(1)} KiB; verify offline ${row.verifyNobleMs.toFixed(0)} ms (protocol, noble) / ${row.verifySnarkjsMs.toFixed(0)} ms (snarkjs)`,
      `  plain inference ${row.plainInferenceMs.toFixed(3)} ms → ZK overhead ${row.overheadRatio.toFixed(0)}x (witness + prove vs plain)`,
      ...(row.gas
        ? [
            `  on-chain: Groth16 verifier ${row.gas.verifier} gas, adapter (Poseidon input commitment + verifier) ${row.gas.adapter} gas`,
          ]
        : []),
    )
  }
  for (const line of result.skipped) lines.push(`skipped ${line}`)
  lines.push(
    'Reference points (other stacks, other machines): EZKL 2.66 s for a 784-56-10 MLP (laptop); circomlib-ml 43.8 s for a small CNN.',
  )
  return lines
}
