/**
 * Thin, typed access to the protobufjs classes generated from `onnx.proto` (onnx-proto, ONNX
 * v1.10 schema) plus the conversions every ONNX reader here needs. Internal to the hub.
 */
import type { Dtype } from '@verity/protocol'
import onnxProto from 'onnx-proto'

export type { onnx } from 'onnx-proto'

/** The generated `onnx` namespace: `ModelProto.decode`, `TensorProto.encode`, … */
export const onnxSchema = onnxProto.onnx

/** protobufjs gives 64-bit integers as `Long` objects (when `long` is installed) or numbers. */
export type LongLike = number | { low: number; high: number; unsigned?: boolean }

/**
 * A protobuf 64-bit integer as a bigint (`int64` semantics unless `unsigned`).
 *
 * @example
 * ```ts
 * longToBigInt({ low: -1, high: -1 }) // -1n
 * ```
 */
export function longToBigInt(value: LongLike | null | undefined, unsigned = false): bigint {
  if (value === null || value === undefined) return 0n
  if (typeof value === 'number') return BigInt(Math.trunc(value))
  const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0)
  return unsigned || value.unsigned ? BigInt.asUintN(64, bits) : BigInt.asIntN(64, bits)
}

/**
 * A protobuf 64-bit integer as a number, or `undefined` when it is not a safe integer.
 *
 * @example
 * ```ts
 * longToNumber({ low: 3, high: 0 }) // 3
 * ```
 */
export function longToNumber(value: LongLike | null | undefined): number | undefined {
  const big = longToBigInt(value)
  if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER))
    return undefined
  return Number(big)
}

/** ONNX `TensorProto.DataType` values Verity tensors can hold (the tags are the same numbers). */
const dtypeByOnnxType: ReadonlyMap<number, Dtype> = new Map<number, Dtype>([
  [1, 'float32'],
  [2, 'uint8'],
  [3, 'int8'],
  [4, 'uint16'],
  [5, 'int16'],
  [6, 'int32'],
  [7, 'int64'],
  [9, 'bool'],
  [10, 'float16'],
  [11, 'float64'],
  [12, 'uint32'],
  [13, 'uint64'],
])

/** Names of ONNX element types, for messages about the ones Verity cannot hold. */
const onnxTypeNames: Readonly<Record<number, string>> = {
  0: 'undefined',
  8: 'string',
  14: 'complex64',
  15: 'complex128',
  16: 'bfloat16',
  17: 'float8e4m3fn',
  18: 'float8e4m3fnuz',
  19: 'float8e5m2',
  20: 'float8e5m2fnuz',
  21: 'uint4',
  22: 'int4',
  23: 'float4e2m1',
}

/**
 * The Verity dtype for an ONNX element type, or `undefined` when Verity has none
 * (string, complex, bfloat16, float8, int4, …).
 *
 * @example
 * ```ts
 * dtypeFromOnnx(1) // 'float32'
 * dtypeFromOnnx(8) // undefined (string)
 * ```
 */
export function dtypeFromOnnx(elemType: number | null | undefined): Dtype | undefined {
  return dtypeByOnnxType.get(elemType ?? 0)
}

/**
 * A readable name for an ONNX element type.
 *
 * @example
 * ```ts
 * onnxTypeName(16) // 'bfloat16'
 * ```
 */
export function onnxTypeName(elemType: number | null | undefined): string {
  const type = elemType ?? 0
  return dtypeByOnnxType.get(type) ?? onnxTypeNames[type] ?? `element type ${type}`
}

/**
 * The first line of whatever protobufjs (or anything else) threw: never a stack trace.
 *
 * @example
 * ```ts
 * firstLine(new RangeError('index out of range: 1 + 8 > 4')) // 'index out of range: 1 + 8 > 4'
 * ```
 */
export function firstLine(cause: unknown): string {
  const text = cause instanceof Error ? cause.message : String(cause)
  return (text.split('\n')[0] ?? text).slice(0, 300)
}

/**
 * A name from an untrusted file, quoted and shortened for an error message (control characters
 * escaped by JSON).
 *
 * @example
 * ```ts
 * quoteName('in\nput') // '"in\\nput"'
 * ```
 */
export function quoteName(name: string | null | undefined): string {
  const text = name ?? ''
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)
}
