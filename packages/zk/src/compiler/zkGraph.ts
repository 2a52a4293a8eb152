import type { ZkRounding } from './roundShift.ts'

/**
 * The compiler's intermediate representation: a topologically ordered list of operations on
 * tensors with static shapes (batch fixed to 1, row-major, flattened). An `integer` graph is what
 * a circuit computes (every constant an integer, every value an exact integer); a `float` graph is
 * a float model as loaded, before `quantizeForZk` turns it into an integer graph.
 */

/** Element types a graph input can have. */
export type ZkInputDtype = 'uint8' | 'int8' | 'float32'

/** Integer element types a `cast` may target (the value must provably fit). */
export type ZkCastTarget = 'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64'

/** The single graph input. */
export type ZkGraphInput = {
  /** ONNX name of the input. */
  name: string
  /** Static shape (batch fixed to 1). */
  shape: number[]
  /** `uint8`/`int8` in integer graphs: the circuit's private `in[N]`. */
  dtype: ZkInputDtype
  /** Real value of one integer step of the input, when known (`real = (q − zeroPoint) · scale`). */
  scale?: number
  /** Integer that encodes real 0, when known. */
  zeroPoint?: number
}

/** The single graph output. */
export type ZkGraphOutput = {
  /** IR value holding the output. */
  name: string
  /** ONNX name of the output. */
  onnxName: string
  shape: number[]
  /**
   * Real value of one unit of the integer output, when every element has the same one (argmax of
   * the integer output is then the float model's class).
   */
  scale?: number
}

type OpBase = {
  /** Name of the ONNX node this operation came from (for messages). */
  name: string
  output: string
}

/** `y[n] = bias[n] + Σ_k (x[k] − inputZeroPoint) · weights[k·outFeatures + n]` (x flattened). */
export type ZkMatMulOp = OpBase & {
  op: 'matmul'
  input: string
  inFeatures: number
  outFeatures: number
  /** `[inFeatures, outFeatures]`, row-major. */
  weights: Float64Array
  bias: Float64Array
  inputZeroPoint: number
}

/** 2-D convolution, NCHW, zero padding applied to `x − inputZeroPoint`. */
export type ZkConvOp = OpBase & {
  op: 'conv'
  input: string
  /** `[M, C / group, KH, KW]`, row-major. */
  weights: Float64Array
  weightShape: [number, number, number, number]
  /** `[M]`. */
  bias: Float64Array
  strides: [number, number]
  /** `[top, left, bottom, right]`. */
  pads: [number, number, number, number]
  dilations: [number, number]
  group: number
  inputZeroPoint: number
}

/** Elementwise sum of two values of the same shape. */
export type ZkAddOp = OpBase & { op: 'add'; inputs: [string, string] }

/** `y[i] = x[i] + constant[i]` (constant expanded to the value's shape). */
export type ZkAddConstantOp = OpBase & { op: 'addConstant'; input: string; constant: Float64Array }

/** `y[i] = x[i] · factor[i]` (integer factors in integer graphs). */
export type ZkMulConstantOp = OpBase & { op: 'mulConstant'; input: string; factor: Float64Array }

/** `y = min(max(x, min), max)`; `±Infinity` means no bound. */
export type ZkClampOp = OpBase & { op: 'clamp'; input: string; min: number; max: number }

/**
 * Integer graphs only: `y[i] = clamp(round((x[i] · multiplier[i] + offset[i]) / 2^shift[i]),
 * min[i], max[i])` where `round` is `floor`, `trunc` (toward zero, ONNX integer `Div`) or
 * `halfEven` (`offset` holds the half, ties go to the even neighbour of the value before
 * `zeroPoint[i]` — included in `offset` — is added; see `roundShift`). The circuit's one non-linear
 * rescale gadget (a rounding right shift when `offset` holds half the divisor).
 */
export type ZkRequantizeOp = OpBase & {
  op: 'requantize'
  input: string
  multiplier: Float64Array
  offset: Float64Array
  shift: Float64Array
  min: Float64Array
  max: Float64Array
  rounding: ZkRounding
  /**
   * `halfEven` only: the integer zero point already included in `offset` (per element, default 0);
   * a tie rounds to the `q` with `q − zeroPoint` even.
   */
  zeroPoint?: Float64Array
}

/** 2-D max pooling (NCHW); padded positions are ignored. */
export type ZkMaxPoolOp = OpBase & {
  op: 'maxPool'
  input: string
  kernel: [number, number]
  strides: [number, number]
  pads: [number, number, number, number]
  dilations: [number, number]
}

/** 2-D sum pooling (NCHW, zero padding): `AveragePool` is a sum pool and a 1/k scale. */
export type ZkSumPoolOp = OpBase & {
  op: 'sumPool'
  input: string
  kernel: [number, number]
  strides: [number, number]
  pads: [number, number, number, number]
}

/** Same elements, new shape (Flatten, Reshape, Identity). */
export type ZkReshapeOp = OpBase & { op: 'reshape'; input: string }

/** Integer cast: the identity once range analysis proves that the value fits `to`. */
export type ZkCastOp = OpBase & { op: 'cast'; input: string; to: ZkCastTarget }

/** One operation of a {@link ZkGraph}. */
export type ZkOp =
  | ZkMatMulOp
  | ZkConvOp
  | ZkAddOp
  | ZkAddConstantOp
  | ZkMulConstantOp
  | ZkClampOp
  | ZkRequantizeOp
  | ZkMaxPoolOp
  | ZkSumPoolOp
  | ZkReshapeOp
  | ZkCastOp

/** The kinds of {@link ZkOp}. */
export type ZkOpKind = ZkOp['op']

/** A model as the ZK compiler sees it. */
export type ZkGraph = {
  /** `integer`: what the circuit computes; `float`: needs `quantizeForZk` first. */
  numeric: 'integer' | 'float'
  input: ZkGraphInput
  output: ZkGraphOutput
  /** Static shape of every value (graph input included). */
  shapes: Map<string, number[]>
  /** Topologically ordered operations. */
  ops: ZkOp[]
  /** Sorted unique ONNX operator types of the source model. */
  sourceOperators: string[]
}

/**
 * The inputs of an operation.
 *
 * @example
 * ```ts
 * zkOpInputs({ op: 'add', name: 'a', inputs: ['x', 'y'], output: 'z' }) // ['x', 'y']
 * ```
 */
export function zkOpInputs(op: ZkOp): string[] {
  return op.op === 'add' ? [...op.inputs] : [op.input]
}

/**
 * Number of elements of a shape.
 *
 * @example
 * ```ts
 * shapeSize([1, 8, 28, 28]) // 6272
 * ```
 */
export function shapeSize(shape: readonly number[]): number {
  let size = 1
  for (const dim of shape) size *= dim
  return size
}
