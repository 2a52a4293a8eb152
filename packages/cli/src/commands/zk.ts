import { randomBytes } from 'node:crypto'
import { basename, join, resolve } from 'node:path'
import { defaultOnnxLimits } from '@verity/hub'
import { BaseError, decodeNpy, isBaseError } from '@verity/protocol'
import {
  type CompileZkModelReturnType,
  compileZkModel,
  createZkArtifactStore,
  loadPowersOfTau,
  measureZkAccuracy,
  quantizeZkInput,
  type SetupZkModelProgress,
  setupZkModel,
} from '@verity/zk'
import { type CliOptions, homePaths } from '../options.ts'
import { type Io, printResult, short } from '../output.ts'
import { createProgress, formatBytes, type ProgressStep } from '../progress.ts'
import { readUserFile } from '../readInputs.ts'
import { writeAtomic } from '../writeAtomic.ts'
import { modelNameFromFile } from './model.ts'

/**
 * Flags of `verity zk compile`.
 *
 * @example
 * ```ts
 * const flags: ZkCompileFlags = { ptau: 'pot14_final.ptau', contributor: ['alice', 'bob'] }
 * const report: ZkCompileFlags = { calibration: 'digits.npy' } // float model: agreement only
 * ```
 */
export type ZkCompileFlags = {
  /** A phase-1 powers-of-tau file prepared for phase 2 (never prepared here); required to set up. */
  ptau?: string | undefined
  /** Refuse the ptau file unless its sha256 is this (hex). */
  ptauSha256?: string | undefined
  /** Phase-2 contributors, in order (default one: `local`). */
  contributor?: string[] | undefined
  /** The final public beacon (hex, e.g. a block hash; default 32 random bytes, recorded). */
  beacon?: string | undefined
  /** Where the artifacts go (default `<home>/zk`, where `verity model add` and the node look). */
  out?: string | undefined
  /** Refuse circuits with more constraints (`ZK_BUDGET_EXCEEDED`). */
  maxConstraints?: string | undefined
  /**
   * A float model: an `.npy` of calibration inputs (`[N, …input shape]`, uint8 bytes or float32
   * values). The model is quantized with them and the quantized twin's top-1 agreement with the
   * float model is reported; nothing is set up (only integer models are proven as they run).
   */
  calibration?: string | undefined
}

/** Hashing iterations of the beacon, 2^10 (as the phase-2 tests and the devnet use). */
const beaconIterationsExp = 10

function parseMaxConstraints(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value)))
    throw new BaseError(
      'INVALID_ARGUMENT',
      `--max-constraints must be a positive integer; got "${value}".`,
    )
  return Number(value)
}

function parseBeacon(value: string | undefined): string {
  if (value === undefined) return `0x${randomBytes(32).toString('hex')}`
  if (!/^(0x)?([0-9a-fA-F]{2}){1,255}$/.test(value))
    throw new BaseError(
      'INVALID_ARGUMENT',
      `--beacon must be 1–255 bytes of hex (e.g. a block hash); got "${value.slice(0, 80)}".`,
    )
  return value.startsWith('0x') ? value.toLowerCase() : `0x${value.toLowerCase()}`
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

/** Checks the model before any setup: operators, integer graph. */
function preflight(bytes: Uint8Array, name: string): CompileZkModelReturnType {
  let compiled: CompileZkModelReturnType
  try {
    compiled = compileZkModel(bytes, { name })
  } catch (error) {
    if (isBaseError(error, 'ZK_CALIBRATION_INVALID'))
      throw new BaseError(
        'ZK_GRAPH_UNSUPPORTED',
        'This is a float model: only integer models (uint8 input, int32 output) can be proven as they run.',
        {
          metaMessages: [
            'Quantize it to an integer ONNX model (QLinear/MatMulInteger) and compile that.',
            'With --calibration FILE.npy the CLI reports how well a quantized twin agrees with it.',
          ],
          cause: error,
        },
      )
    throw error
  }
  if (compiled.inputDtype !== 'uint8')
    throw new BaseError(
      'ZK_GRAPH_UNSUPPORTED',
      `The model's input is ${compiled.inputDtype}; a provable model takes uint8 bytes.`,
      { metaMessages: ['Export the model with a uint8 input (the quantized image bytes).'] },
    )
  return compiled
}

/** Up to 16 Mi calibration values (e.g. 20k MNIST digits). */
const maxCalibrationElements = 1 << 24

/** Splits an `.npy` of `[N, …]` calibration inputs into N samples. */
async function readCalibration(file: string): Promise<Uint8Array[] | Float32Array[]> {
  const bytes = await readUserFile(resolve(file), maxCalibrationElements * 4 + 4096)
  const tensor = decodeNpy(new Uint8Array(bytes), { maxElements: maxCalibrationElements })
  const count = tensor.shape[0] ?? 0
  const size = tensor.shape.slice(1).reduce((product, dim) => product * dim, 1)
  if (tensor.shape.length < 2 || count === 0 || size === 0)
    throw new BaseError(
      'ZK_CALIBRATION_INVALID',
      `--calibration ${file} has shape [${tensor.shape.join(', ')}]; expected [N, …input shape] with N ≥ 1.`,
    )
  if (tensor.data instanceof Uint8Array && tensor.dtype === 'uint8')
    return Array.from({ length: count }, (_, i) =>
      (tensor.data as Uint8Array).slice(i * size, (i + 1) * size),
    )
  if (tensor.data instanceof Float32Array)
    return Array.from({ length: count }, (_, i) =>
      (tensor.data as Float32Array).slice(i * size, (i + 1) * size),
    )
  throw new BaseError(
    'ZK_CALIBRATION_INVALID',
    `--calibration ${file} holds ${tensor.dtype}; expected uint8 bytes or float32 values.`,
  )
}

/**
 * A float model with calibration data: quantize it as the circuit would and report the integer
 * twin's top-1 agreement with the float model on the calibration inputs. No setup, no proof.
 */
async function reportQuantization(
  io: Io,
  options: CliOptions,
  path: string,
  bytes: Uint8Array,
  name: string,
  file: string,
): Promise<number> {
  const calibration = await readCalibration(file)
  const progress = createProgress(io)
  const step = progress.step(`Quantizing with ${calibration.length} calibration inputs`)
  let compiled: CompileZkModelReturnType
  try {
    compiled = compileZkModel(bytes, { name, calibration })
  } catch (error) {
    step.fail()
    throw error
  }
  if (compiled.floatGraph === undefined) {
    step.fail()
    throw new BaseError(
      'INVALID_ARGUMENT',
      '--calibration is for float models; this model is already integer.',
      { metaMessages: ['Leave --calibration out to set it up for proving.'] },
    )
  }
  const inputs =
    calibration[0] instanceof Uint8Array
      ? (calibration as Uint8Array[])
      : (calibration as Float32Array[]).map((sample) => quantizeZkInput(compiled.graph, sample))
  const accuracy = measureZkAccuracy({
    graph: compiled.graph,
    reference: compiled.floatGraph,
    inputs,
  })
  step.done(`${(accuracy.agreement * 100).toFixed(2)}% top-1 agreement`)
  const human = [
    `model        ${basename(path)} (float)`,
    `operators    ${compiled.operators.join(', ')}`,
    `agreement    ${(accuracy.agreement * 100).toFixed(2)}% top-1 (quantized vs float) on ${accuracy.count} calibration inputs, ${accuracy.disagreements.length} differ`,
    `constraints  ~${compiled.estimatedConstraints} (estimate)`,
    'not set up   only integer models are proven as they run: export the quantized model (uint8 input, int32 output) and compile that',
  ].join('\n')
  printResult(io, options, human, {
    model: { file: path, name },
    float: true,
    operators: compiled.operators,
    agreement: accuracy.agreement,
    count: accuracy.count,
    disagreements: accuracy.disagreements,
    estimatedConstraints: compiled.estimatedConstraints,
  })
  return 0
}

/**
 * `verity zk compile MODEL.onnx --ptau FILE`: turns an integer ONNX model into a provable one
 * (`setupZkModel`: Circom circuit, R1CS, phase-2 ceremony with the given contributors and a
 * public beacon, verified transcript), stores the artifacts by CID in `--out` (default
 * `<home>/zk`, where `verity model add` and `verity node` find them), writes the Solidity
 * verifier next to them, and prints operators, constraints, the proving estimate, timings and the
 * manifest's `zk` section. Models with operators outside the zk set fail with
 * `ZK_UNSUPPORTED_OPERATORS` before anything is set up. A float model with `--calibration` is
 * quantized and its agreement with the float model reported, without setup or proof.
 *
 * @example
 * ```ts
 * await zkCompile(io, options, 'digits-mlp-int8.onnx', { ptau: 'pot14_final.ptau', contributor: ['alice', 'bob'] })
 * ```
 */
export async function zkCompile(
  io: Io,
  options: CliOptions,
  file: string,
  flags: ZkCompileFlags,
): Promise<number> {
  const path = resolve(file)
  const maxConstraints = parseMaxConstraints(flags.maxConstraints)
  const beacon = parseBeacon(flags.beacon)
  const contributors = (flags.contributor?.length ? flags.contributor : ['local']).map((name) => {
    if (name.trim() === '' || name.length > 64)
      throw new BaseError('INVALID_ARGUMENT', `--contributor "${name}" must be 1–64 characters.`)
    return { name }
  })
  const out = resolve(flags.out ?? homePaths(options.home).zk)
  const bytes = new Uint8Array(await readUserFile(path, defaultOnnxLimits.maxModelBytes))
  const name = modelNameFromFile(path) || 'model'
  if (flags.calibration !== undefined)
    return reportQuantization(io, options, path, bytes, name, flags.calibration)
  const ptauFile = flags.ptau
  if (ptauFile === undefined)
    throw new BaseError('INVALID_ARGUMENT', 'Setting a model up for zk needs --ptau FILE.', {
      metaMessages: [
        'A phase-1 powers-of-tau file prepared for phase 2, e.g. a Hermez powersOfTau28_hez_final_NN.ptau (pin it with --ptau-sha256).',
      ],
    })
  const compiled = preflight(bytes, name)

  const progress = createProgress(io)
  let step: ProgressStep = progress.step(`Reading the powers of tau ${basename(ptauFile)}`)
  let ptau: Awaited<ReturnType<typeof loadPowersOfTau>>
  try {
    ptau = await loadPowersOfTau(resolve(ptauFile), { expectedSha256: flags.ptauSha256 })
    step.done(`2^${ptau.power}, sha256 ${short(ptau.sha256)}`)
  } catch (error) {
    step.fail()
    throw error
  }
  let contributed = 0
  const onProgress = (event: SetupZkModelProgress) => {
    if (event.phase === 'compile')
      step = progress.step(
        `Compiling ${compiled.operators.length} operators to a circuit (circom2)`,
      )
    else if (event.phase === 'compiled') step.done(`${event.constraints} constraints`)
    else if (event.phase === 'setup')
      step = progress.step(`Phase-2 ceremony (${contributors.length} contributors and a beacon)`)
    else if (event.phase === 'contribution')
      step.update(`${++contributed}/${contributors.length} ${event.name}`)
    else if (event.phase === 'beacon') {
      step.done(`beacon ${short(beacon)}`)
      step = progress.step('Verifying the ceremony')
    } else if (event.phase === 'verified') step.done('transcript verified')
  }
  const artifacts = await setupZkModel({
    onnx: bytes,
    name,
    ptau,
    contributors,
    beacon: { hash: beacon, iterationsExp: beaconIterationsExp },
    ...(maxConstraints === undefined ? {} : { budget: { maxConstraints } }),
    onProgress,
  }).catch((error: unknown) => {
    step.fail()
    throw error
  })

  const store = createZkArtifactStore({ dir: out })
  await store.put(artifacts)
  const { manifestZk, estimate, timings, transcript } = artifacts
  const verifierPath = join(out, 'models', `${manifestZk.modelCommitment}.Groth16Verifier.sol`)
  await writeAtomic(verifierPath, artifacts.solidityVerifier)

  const human = [
    `model        ${basename(path)} (model commitment ${short(manifestZk.modelCommitment)})`,
    `operators    ${compiled.operators.join(', ')}`,
    `constraints  ${manifestZk.constraints} (${estimate.wires} wires, ${estimate.publicSignals} public signals, ptau 2^${ptau.power})`,
    `estimate     ~${formatBytes(estimate.peakMemoryBytes)} peak memory, ~${seconds(estimate.proveMs)} per proof`,
    `timings      compile ${seconds(timings.compileMs)}, setup ${seconds(timings.setupMs)}, contributions ${seconds(timings.contributionsMs)}, beacon ${seconds(timings.beaconMs)}`,
    `ceremony     ${transcript.contributions.map((c) => c.name).join(', ')} + beacon ${beacon}`,
    `artifacts    ${out}`,
    `verifier     ${verifierPath}`,
    'zk section   (the manifest of this model gets it when added: verity model add FILE)',
    JSON.stringify(manifestZk, null, 2),
  ].join('\n')
  printResult(io, options, human, {
    model: { file: path, name },
    operators: compiled.operators,
    constraints: manifestZk.constraints,
    estimate,
    timings,
    contributors: transcript.contributions.map((c) => c.name),
    beacon,
    dir: out,
    solidityVerifierPath: verifierPath,
    manifestZk,
  })
  return 0
}
