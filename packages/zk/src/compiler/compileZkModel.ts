import { BaseError } from '@verity/protocol'
import { computeModelCommitment } from '../commitment/computeModelCommitment.ts'
import { type EmitCircomReturnType, emitCircom, type ZkConstraintBreakdown } from './emitCircom.ts'
import { type LoadZkGraphOptions, loadZkGraph } from './loadZkGraph.ts'
import { optimizeZkGraph } from './optimizeZkGraph.ts'
import { type QuantizeForZkOptions, quantizeForZk } from './quantizeForZk.ts'
import { shapeSize, type ZkGraph } from './zkGraph.ts'
import { zkWitnessInput } from './zkWitnessInput.ts'

/** Options of {@link compileZkModel}. */
export type CompileZkModelOptions = {
  /** Calibration inputs; required for float models (they are quantized with them). */
  calibration?: readonly Uint8Array[] | readonly Float32Array[]
  /** Model name: becomes the main template's name (PascalCase), default `VerityModel`. */
  name?: string
  /** Quantization options for float models. */
  quantization?: QuantizeForZkOptions
  /** Limits applied to the untrusted ONNX file. */
  limits?: LoadZkGraphOptions
}

/** The compiled model: Circom source and everything needed to prove and check it. */
export type CompileZkModelReturnType = {
  /** Circom 2 source of the whole circuit (compile it with `compileCircom`). */
  source: string
  mainTemplate: string
  /** Number of private inputs `in[N]` (elements of the input tensor). */
  inputLength: number
  /** Element type of the circuit input (the input tensor's bytes). */
  inputDtype: 'uint8' | 'int8'
  inputShape: number[]
  outputShape: number[]
  /** Number of `out` public signals. */
  outputCount: number
  /** sha256 of the ONNX bytes mod p: the `modelCommitment` public signal. */
  modelCommitment: bigint
  /** Sorted unique ONNX operator types of the model. */
  operators: string[]
  /** Estimated R1CS constraints with `--O2`. */
  estimatedConstraints: number
  breakdown: ZkConstraintBreakdown
  /** The optimized integer graph the circuit computes (run it with `evaluateZkGraph`). */
  graph: ZkGraph
  /** The float graph before quantization (float models only). */
  floatGraph?: ZkGraph
  /** Real value of one step of the input bytes, when known. */
  inputScale?: number
  /** Real value of one unit of the integer outputs, when uniform. */
  outputScale?: number
  /** The circuit input for one input tensor's raw bytes. */
  witnessInput: (bytes: Uint8Array) => { in: string[] }
}

function templateName(name: string | undefined): string {
  if (name === undefined) return 'VerityModel'
  const words = name.split(/[^A-Za-z0-9]+/).filter(Boolean)
  let pascal = words.map((word) => word[0]!.toUpperCase() + word.slice(1)).join('')
  if (!/^[A-Za-z]/.test(pascal)) pascal = `Model${pascal}`
  if (pascal.startsWith('Zk')) pascal = `Model${pascal}`
  return pascal.slice(0, 64) || 'VerityModel'
}

/**
 * Compiles an ONNX model into a fixed-point Circom circuit: parse (`loadZkGraph`), quantize float
 * models with the calibration data (`quantizeForZk`), optimize (`optimizeZkGraph`), emit
 * (`emitCircom`). The circuit's public signals are `out[M]`, `inputCommitment`,
 * `modelCommitment`. Throws `ZK_CALIBRATION_INVALID` when a float model comes without
 * calibration data, and the loader's typed errors for unsupported or malformed models.
 *
 * @example
 * ```ts
 * const compiled = compileZkModel(int8Bytes, { name: 'digits-mlp-int8' })
 * const circuit = await compileCircom({ source: compiled.source, name: 'digits' })
 * const witness = await calculateWitness(circuit.wasm, compiled.witnessInput(image))
 * ```
 */
export function compileZkModel(
  onnxBytes: Uint8Array,
  options: CompileZkModelOptions = {},
): CompileZkModelReturnType {
  const loaded = loadZkGraph(onnxBytes, options.limits)
  let floatGraph: ZkGraph | undefined
  let integer = loaded
  if (loaded.numeric === 'float') {
    if (!options.calibration || options.calibration.length === 0)
      throw new BaseError(
        'ZK_CALIBRATION_INVALID',
        'This is a float model: compiling it to a circuit needs calibration inputs to quantize it.',
        {
          metaMessages: [
            'Pass options.calibration (a few hundred representative inputs, Uint8Array or Float32Array).',
          ],
        },
      )
    floatGraph = loaded
    integer = quantizeForZk(loaded, options.calibration, options.quantization)
  }
  const graph = optimizeZkGraph(integer)
  const modelCommitment = computeModelCommitment(onnxBytes)
  const emitted: EmitCircomReturnType = emitCircom(graph, {
    modelCommitment,
    mainTemplate: templateName(options.name),
  })
  const inputDtype = graph.input.dtype === 'int8' ? 'int8' : 'uint8'
  const inputLength = shapeSize(graph.input.shape)
  return {
    source: emitted.source,
    mainTemplate: emitted.mainTemplate,
    inputLength,
    inputDtype,
    inputShape: graph.input.shape,
    outputShape: graph.output.shape,
    outputCount: emitted.outputCount,
    modelCommitment,
    operators: loaded.sourceOperators,
    estimatedConstraints: emitted.estimatedConstraints,
    breakdown: emitted.breakdown,
    graph,
    ...(floatGraph ? { floatGraph } : {}),
    ...(graph.input.scale !== undefined ? { inputScale: graph.input.scale } : {}),
    ...(graph.output.scale !== undefined ? { outputScale: graph.output.scale } : {}),
    witnessInput: (bytes: Uint8Array) => zkWitnessInput(bytes, inputDtype, inputLength),
  }
}
