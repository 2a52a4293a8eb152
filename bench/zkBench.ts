/**
 * ZK section of `npm run bench`: for the demo int8 MLP (pot14) and CNN (pot16), the circuit's
 * size, compile / setup / witness / prove times, the prover's peak memory, proof size, offline
 * verification time (the protocol's pairing check, and snarkjs's), and — next to them, measured in
 * the same run — the plain inference time of the same ONNX model in a bare onnxruntime-node
 * session: the ZK overhead ratio. On-chain verification gas comes from `measureGas` when given.
 */
import { existsSync } from 'node:fs'
import { buildDemoCnn, buildDemoModels } from '@verity/models'
import { canonicalJson, verifyGroth16 } from '@verity/protocol'
import {
  createGroth16Prover,
  createZkArtifactStore,
  encodeGroth16Proof,
  loadPowersOfTau,
  proveZkInference,
  setupZkModel,
  verifyGroth16Proof,
  type ZkModelArtifacts,
} from '@verity/zk'
import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node'

/** Where the phase-1 fixtures live (../shared/assets/zk). */
export const zkBenchPtau = {
  pot14: new URL('../../shared/assets/zk/pot14_final.ptau', import.meta.url).pathname,
  pot16: new URL('../../shared/assets/zk/pot16_final.ptau', import.meta.url).pathname,
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
