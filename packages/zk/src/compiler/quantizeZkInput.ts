import { BaseError } from '@verity/protocol'
import { shapeSize, type ZkGraph } from './zkGraph.ts'

/**
 * Quantizes a real-valued input for a quantized graph: `byte = clamp(round(x / scale) + zeroPoint,
 * 0, 255)` with the input scale chosen by `quantizeForZk`. The bytes are the circuit's input.
 *
 * @example
 * ```ts
 * const bytes = quantizeZkInput(integerGraph, Float32Array.from(image, (p) => p / 255))
 * ```
 */
export function quantizeZkInput(graph: ZkGraph, input: ArrayLike<number>): Uint8Array {
  const { scale, zeroPoint = 0 } = graph.input
  if (graph.numeric !== 'integer' || graph.input.dtype !== 'uint8' || scale === undefined)
    throw new BaseError(
      'INVALID_ARGUMENT',
      'quantizeZkInput needs an integer graph with a known uint8 input scale.',
      {
        metaMessages: ['Use the graph returned by quantizeForZk or compileZkModel.'],
      },
    )
  const size = shapeSize(graph.input.shape)
  if (input.length !== size)
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `The input needs ${size} values; got ${input.length}.`,
    )
  return Uint8Array.from({ length: size }, (_, i) =>
    Math.min(255, Math.max(0, Math.round(input[i]! / scale) + zeroPoint)),
  )
}
