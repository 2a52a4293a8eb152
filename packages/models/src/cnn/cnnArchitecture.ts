import { BaseError } from '@verity/protocol'
import { digitImageSize } from '../digits.ts'

/**
 * Shape of the demo CNN: one square convolution (no padding) over the single-channel 28×28 image,
 * ReLU, a square max-pool whose stride equals its size, then one dense layer to the classes.
 */
export type CnnArchitecture = {
  /** Output channels of the convolution. */
  readonly channels: number
  /** Side of the square convolution kernel. */
  readonly kernelSize: number
  /** Stride of the convolution (both axes). */
  readonly stride: number
  /** Side and stride of the max-pool window. */
  readonly poolSize: number
}

/**
 * The published architecture: Conv 3×3, 4 channels, stride 2 → [4, 13, 13] (676 values, each one
 * requantization in a circuit) → MaxPool 2×2 → [4, 6, 6] → dense 144 → 10. Small enough for a
 * Groth16 circuit of at most 2^16 constraints.
 *
 * @example
 * ```ts
 * cnnGeometry(defaultCnnArchitecture).convOutputs // 676
 * ```
 */
export const defaultCnnArchitecture = {
  channels: 4,
  kernelSize: 3,
  stride: 2,
  poolSize: 2,
} as const satisfies CnnArchitecture

/** Every size that follows from a {@link CnnArchitecture}. */
export type CnnGeometry = CnnArchitecture & {
  /** Side of the input image (28). */
  readonly imageSize: number
  /** Side of each convolution output map: ⌊(28 − kernel) / stride⌋ + 1. */
  readonly convSize: number
  /** Number of convolution outputs: channels · convSize². */
  readonly convOutputs: number
  /** Side of each pooled map: ⌊(convSize − pool) / pool⌋ + 1 (a last odd row/column is dropped). */
  readonly pooledSize: number
  /** Length of the flattened pooled features: channels · pooledSize². */
  readonly featureSize: number
  /** Number of classes (10). */
  readonly outputSize: number
}

/**
 * Validates an architecture and derives its sizes.
 *
 * @example
 * ```ts
 * const { convSize, pooledSize, featureSize } = cnnGeometry(defaultCnnArchitecture) // 13, 6, 144
 * ```
 */
export function cnnGeometry(architecture: CnnArchitecture): CnnGeometry {
  const { channels, kernelSize, stride, poolSize } = architecture
  for (const [name, value] of Object.entries({ channels, kernelSize, stride, poolSize }))
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new BaseError(
        'INVALID_ARGUMENT',
        `CNN ${name} must be a positive integer; got ${String(value)}.`,
        { metaMessages: ['Omit it to use defaultCnnArchitecture.'] },
      )
  const imageSize = digitImageSize
  if (kernelSize > imageSize)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `CNN kernelSize must be at most ${imageSize}; got ${kernelSize}.`,
    )
  const convSize = Math.floor((imageSize - kernelSize) / stride) + 1
  if (poolSize > convSize)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `CNN poolSize must be at most the convolution output side ${convSize}; got ${poolSize}.`,
      { metaMessages: ['Use a smaller pool, kernel or stride.'] },
    )
  const pooledSize = Math.floor((convSize - poolSize) / poolSize) + 1
  return {
    channels,
    kernelSize,
    stride,
    poolSize,
    imageSize,
    convSize,
    convOutputs: channels * convSize * convSize,
    pooledSize,
    featureSize: channels * pooledSize * pooledSize,
    outputSize: 10,
  }
}
