/**
 * Output length of one spatial axis of a convolution or pooling window (floor mode).
 *
 * @example
 * ```ts
 * convOutputSize(28, 5, 1, 2, 2, 1) // 28 (5×5 kernel, "same" padding)
 * convOutputSize(28, 2, 2, 0, 0, 1) // 14 (2×2 pool, stride 2)
 * ```
 */
export function convOutputSize(
  inputSize: number,
  kernel: number,
  stride: number,
  padBegin: number,
  padEnd: number,
  dilation: number,
): number {
  return Math.floor((inputSize + padBegin + padEnd - dilation * (kernel - 1) - 1) / stride) + 1
}

/** A 2-D window over an NCHW plane: kernel, strides, pads `[top, left, bottom, right]`, dilations. */
export type WindowGeometry = {
  height: number
  width: number
  kernel: readonly [number, number]
  strides: readonly [number, number]
  pads: readonly [number, number, number, number]
  dilations: readonly [number, number]
}

/**
 * Output height and width of a window (floor mode): {@link convOutputSize} on both axes.
 *
 * @example
 * ```ts
 * windowOutputShape({ height: 26, width: 26, kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1] }) // [13, 13]
 * ```
 */
export function windowOutputShape(geometry: WindowGeometry): [number, number] {
  const { height, width, kernel, strides, pads, dilations } = geometry
  return [
    convOutputSize(height, kernel[0], strides[0], pads[0], pads[2], dilations[0]),
    convOutputSize(width, kernel[1], strides[1], pads[1], pads[3], dilations[1]),
  ]
}

/**
 * The flat input indices (NCHW, one channel plane of `height × width`) that a window covers at
 * output position `(oh, ow)`, skipping padded positions.
 *
 * @example
 * ```ts
 * windowIndices({ height: 4, width: 4, kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1] }, 1, 1)
 * // [10, 11, 14, 15]
 * ```
 */
export function windowIndices(geometry: WindowGeometry, oh: number, ow: number): number[] {
  const { height, width, kernel, strides, pads, dilations } = geometry
  const indices: number[] = []
  for (let kh = 0; kh < kernel[0]; kh++) {
    const ih = oh * strides[0] - pads[0] + kh * dilations[0]
    if (ih < 0 || ih >= height) continue
    for (let kw = 0; kw < kernel[1]; kw++) {
      const iw = ow * strides[1] - pads[1] + kw * dilations[1]
      if (iw < 0 || iw >= width) continue
      indices.push(ih * width + iw)
    }
  }
  return indices
}
