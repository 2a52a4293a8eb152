import { BaseError } from '@verity/protocol'
import { analyzeZkRanges } from './analyzeZkRanges.ts'
import { evaluateZkOp } from './evaluateZkOp.ts'
import { shapeSize, type ZkGraph } from './zkGraph.ts'

/** The result of {@link evaluateZkGraph}. */
export type ZkEvaluation = {
  /** The graph output, flattened (exact integers for integer graphs). */
  output: Float64Array
  /** Every value of the graph by IR name, input included. */
  values: Map<string, Float64Array>
}

// range analysis once per graph object: it proves float64 exactness of the integer evaluation
const analyzed = new WeakSet<ZkGraph>()

function checkInput(graph: ZkGraph, input: ArrayLike<number>): Float64Array {
  const size = shapeSize(graph.input.shape)
  if (!input || typeof input.length !== 'number' || input.length !== size)
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `The graph input "${graph.input.name}" needs ${size} elements (shape [${graph.input.shape.join(', ')}]); got ${input?.length}.`,
      { metaMessages: ['Pass the input tensor flattened in row-major order (batch 1).'] },
    )
  const values = Float64Array.from(input)
  if (graph.numeric === 'integer') {
    const [lo, hi] = graph.input.dtype === 'int8' ? [-128, 127] : [0, 255]
    for (let i = 0; i < size; i++) {
      const value = values[i]!
      if (!Number.isInteger(value) || value < lo || value > hi)
        throw new BaseError(
          'TENSOR_INVALID',
          `Input element ${i} is ${value}; the circuit's ${graph.input.dtype} input takes integers in [${lo}, ${hi}].`,
          { metaMessages: ['Quantize the input first (quantizeZkInput) or pass the raw bytes.'] },
        )
    }
  }
  return values
}

/**
 * Runs a graph on one input. For an integer graph this is the exact integer reference: what the
 * circuit computes, element for element (the range analysis proves that float64 arithmetic is
 * exact). For a float graph it is a float64 evaluation of the float model.
 *
 * @example
 * ```ts
 * const { output } = evaluateZkGraph(graph, image) // Float64Array of int32 logits
 * ```
 */
export function evaluateZkGraph(graph: ZkGraph, input: ArrayLike<number>): ZkEvaluation {
  if (graph.numeric === 'integer' && !analyzed.has(graph)) {
    analyzeZkRanges(graph)
    analyzed.add(graph)
  }
  const values = new Map<string, Float64Array>([[graph.input.name, checkInput(graph, input)]])
  for (const op of graph.ops) values.set(op.output, evaluateZkOp(op, values, graph.shapes))
  const output = values.get(graph.output.name)
  if (!output)
    throw new BaseError('INTERNAL', `The graph never computes its output "${graph.output.name}".`)
  return { output, values }
}
