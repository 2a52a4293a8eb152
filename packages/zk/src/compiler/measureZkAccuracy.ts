import { BaseError } from '@verity/protocol'
import { evaluateZkGraph } from './evaluateZkGraph.ts'
import type { ZkGraph } from './zkGraph.ts'

/** Parameters of {@link measureZkAccuracy}. */
export type MeasureZkAccuracyParameters = {
  /** The integer graph (what the circuit computes). */
  graph: ZkGraph
  /** The float model: a float graph (evaluated in float64) or any function returning its scores. */
  reference: ZkGraph | ((bytes: Uint8Array) => ArrayLike<number>)
  /** Test inputs as the circuit's bytes. */
  inputs: readonly Uint8Array[]
  /** True classes of the inputs, for accuracies. */
  labels?: readonly number[]
  /**
   * The float input of the reference for given bytes. Default `(byte − zeroPoint) · scale` with
   * the integer graph's input scale.
   */
  referenceInput?: (bytes: Uint8Array) => ArrayLike<number>
}

/** What {@link measureZkAccuracy} found. */
export type MeasureZkAccuracyReturnType = {
  count: number
  /** Fraction of inputs where the integer and float models predict the same class (top-1). */
  agreement: number
  /** Top-1 accuracy of the integer model (when labels are given). */
  integerAccuracy?: number
  /** Top-1 accuracy of the float model (when labels are given). */
  referenceAccuracy?: number
  /** Indices of the inputs on which the two disagree. */
  disagreements: number[]
}

function argmax(values: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i
  return best
}

/**
 * Compares the integer model with its float original on a test set: top-1 agreement, and
 * accuracy against labels when given.
 *
 * @example
 * ```ts
 * const { agreement } = measureZkAccuracy({ graph: compiled.graph, reference: floatGraph, inputs, labels })
 * ```
 */
export function measureZkAccuracy(
  parameters: MeasureZkAccuracyParameters,
): MeasureZkAccuracyReturnType {
  const { graph, reference, inputs, labels } = parameters
  if (inputs.length === 0)
    throw new BaseError('INVALID_ARGUMENT', 'measureZkAccuracy needs at least one input.')
  if (labels && labels.length !== inputs.length)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `Got ${labels.length} labels for ${inputs.length} inputs.`,
    )
  const { scale, zeroPoint = 0 } = graph.input
  const referenceInput =
    parameters.referenceInput ??
    ((bytes: Uint8Array) => {
      if (scale === undefined)
        throw new BaseError(
          'INVALID_ARGUMENT',
          'The integer graph has no input scale; pass referenceInput.',
          {
            metaMessages: [
              'e.g. referenceInput: (bytes) => Float32Array.from(bytes, (b) => b / 255)',
            ],
          },
        )
      return Float64Array.from(bytes, (byte) => (byte - zeroPoint) * scale)
    })
  const run =
    typeof reference === 'function'
      ? reference
      : (bytes: Uint8Array) => evaluateZkGraph(reference, referenceInput(bytes)).output
  let same = 0
  let integerCorrect = 0
  let referenceCorrect = 0
  const disagreements: number[] = []
  inputs.forEach((bytes, index) => {
    const integerClass = argmax(evaluateZkGraph(graph, bytes).output)
    const referenceClass = argmax(run(bytes))
    if (integerClass === referenceClass) same++
    else disagreements.push(index)
    if (labels) {
      if (integerClass === labels[index]) integerCorrect++
      if (referenceClass === labels[index]) referenceCorrect++
    }
  })
  const count = inputs.length
  return {
    count,
    agreement: same / count,
    ...(labels
      ? { integerAccuracy: integerCorrect / count, referenceAccuracy: referenceCorrect / count }
      : {}),
    disagreements,
  }
}
