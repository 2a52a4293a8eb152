import { z } from 'zod'
import { BaseError } from './errors.ts'
import {
  allocTensorData,
  assertTensor,
  type Dtype,
  dtypeByteSize,
  dtypes,
  type NamedTensors,
  shapeSize,
  type Tensor,
  tensorLimits,
} from './tensor.ts'

/**
 * JSON form of a tensor. `data` holds the elements (flat, or nested to match `shape`); 64-bit
 * integers may be given as decimal strings. `base64` holds the canonical little-endian bytes instead
 * and is the only form that carries every float bit pattern (NaN payloads, -0) exactly.
 */
export const tensorJsonSchema = z
  .object({
    dtype: z.enum(dtypes as [Dtype, ...Dtype[]]),
    shape: z.array(z.number().int().min(0).max(tensorLimits.maxDim)).max(tensorLimits.maxRank),
    data: z.unknown().optional(),
    base64: z.string().optional(),
  })
  .strict()
  .refine((value) => (value.data === undefined) !== (value.base64 === undefined), {
    message: 'exactly one of "data" and "base64" must be present',
  })

export type TensorJson = {
  dtype: Dtype
  shape: number[]
  data?: unknown
  base64?: string
}

export type NamedTensorsJson = Record<string, TensorJson>

export type TensorFromJsonOptions = {
  /** Refuse tensors with more elements than this (default 16 Mi). */
  maxElements?: number
}

const intRanges: Partial<Record<Dtype, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
}

function flatten(
  value: unknown,
  shape: readonly number[],
  depth: number,
  out: unknown[],
  name: string,
): void {
  if (depth === shape.length) {
    out.push(value)
    return
  }
  if (!Array.isArray(value) || value.length !== shape[depth])
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `${name}: data does not match shape [${shape.join(',')}] at depth ${depth} (expected ${shape[depth]} elements).`,
    )
  for (const item of value) flatten(item, shape, depth + 1, out, name)
}

function elementError(name: string, index: number, dtype: Dtype, value: unknown): BaseError {
  return new BaseError(
    'TENSOR_INVALID',
    `${name}: element ${index} is ${JSON.stringify(value)}, which is not a valid ${dtype}.`,
  )
}

function toBigInt(value: unknown, signed: boolean): bigint | undefined {
  let result: bigint
  if (typeof value === 'number' && Number.isSafeInteger(value)) result = BigInt(value)
  else if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) result = BigInt(value)
  else return undefined
  const [min, max] = signed ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n]
  return result < min || result > max ? undefined : result
}

function fillElements(dtype: Dtype, values: unknown[], name: string): Tensor['data'] {
  const data = allocTensorData(dtype, values.length)
  values.forEach((value, index) => {
    switch (dtype) {
      case 'float32':
      case 'float64':
        if (typeof value !== 'number') throw elementError(name, index, dtype, value)
        ;(data as Float32Array | Float64Array)[index] = value
        return
      case 'float16':
        if (typeof value !== 'number') throw elementError(name, index, dtype, value)
        ;(data as Uint16Array)[index] = new Uint16Array(new Float16Array([value]).buffer)[0]!
        return
      case 'bool':
        if (value === true || value === 1) (data as Uint8Array)[index] = 1
        else if (value === false || value === 0) (data as Uint8Array)[index] = 0
        else throw elementError(name, index, dtype, value)
        return
      case 'int64':
      case 'uint64': {
        const big = toBigInt(value, dtype === 'int64')
        if (big === undefined) throw elementError(name, index, dtype, value)
        ;(data as BigInt64Array | BigUint64Array)[index] = big
        return
      }
      default: {
        const [min, max] = intRanges[dtype]!
        if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
          throw elementError(name, index, dtype, value)
        ;(data as Int32Array)[index] = value
      }
    }
  })
  return data
}

/**
 * Converts the JSON form of a tensor into a {@link Tensor}, validating dtype, shape and every
 * element. Two JSON forms of the same tensor (nested or flat, numbers or base64) give the same
 * tensor and therefore the same hash.
 *
 * @example
 * ```ts
 * tensorFromJson({ dtype: 'float32', shape: [1, 2], data: [[0.5, 1]] })
 * ```
 */
export function tensorFromJson(
  value: unknown,
  name = 'tensor',
  options: TensorFromJsonOptions = {},
): Tensor {
  const parsed = tensorJsonSchema.safeParse(value)
  if (!parsed.success)
    throw new BaseError(
      'TENSOR_INVALID',
      `${name} is not a tensor: ${z.prettifyError(parsed.error).replaceAll('\n', ' ')}`,
      {
        metaMessages: [
          'Expected {"dtype": "float32", "shape": [1, 4], "data": [...]} or {"dtype", "shape", "base64"}.',
        ],
      },
    )
  const { dtype, shape, data, base64 } = parsed.data
  const size = shapeSize(shape)
  const maxElements = options.maxElements ?? 16 * 1024 * 1024
  if (size > maxElements)
    throw new BaseError(
      'TENSOR_TOO_LARGE',
      `${name} has ${size} elements; the limit is ${maxElements}.`,
    )
  let tensor: Tensor
  if (base64 !== undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64))
      throw new BaseError('TENSOR_INVALID', `${name}: "base64" is not valid base64.`)
    const bytes = Buffer.from(base64, 'base64')
    const expected = size * dtypeByteSize(dtype)
    if (bytes.length !== expected)
      throw new BaseError(
        'TENSOR_SHAPE_MISMATCH',
        `${name}: base64 holds ${bytes.length} bytes; shape [${shape.join(',')}] of ${dtype} needs ${expected}.`,
      )
    const data = allocTensorData(dtype, size)
    new Uint8Array(data.buffer).set(bytes)
    tensor = { dtype, shape, data }
  } else {
    const flat: unknown[] = []
    if (
      Array.isArray(data) &&
      data.length === size &&
      !data.some(Array.isArray) &&
      shape.length !== 1
    )
      flat.push(...data) // flat data for a multi-dimensional shape
    else flatten(data, shape, 0, flat, name)
    tensor = { dtype, shape, data: fillElements(dtype, flat, name) }
  }
  assertTensor(tensor, name)
  return tensor
}

/** Converts a map of JSON tensors; see {@link tensorFromJson}. */
export function namedTensorsFromJson(
  value: unknown,
  options: TensorFromJsonOptions = {},
): Record<string, Tensor> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BaseError('TENSOR_INVALID', 'Expected an object mapping input names to tensors.', {
      metaMessages: [
        'Example: {"input": {"dtype": "float32", "shape": [1, 4], "data": [1, 2, 3, 4]}}',
      ],
    })
  const entries = Object.entries(value)
  if (entries.length > tensorLimits.maxTensors)
    throw new BaseError(
      'TENSOR_INVALID',
      `${entries.length} tensors given; at most ${tensorLimits.maxTensors} are allowed.`,
    )
  return Object.fromEntries(
    entries.map(([name, tensor]) => [name, tensorFromJson(tensor, `Tensor "${name}"`, options)]),
  )
}

export type TensorToJsonOptions = {
  /** `base64` (exact, compact; the default) or `data` (readable numbers, int64 as strings). */
  encoding?: 'base64' | 'data'
}

/**
 * The JSON form of a tensor.
 *
 * @example
 * ```ts
 * tensorToJson(tensor, { encoding: 'data' }) // { dtype: 'float32', shape: [1, 2], data: [0.5, 1] }
 * ```
 */
export function tensorToJson(tensor: Tensor, options: TensorToJsonOptions = {}): TensorJson {
  assertTensor(tensor)
  const shape = [...tensor.shape]
  if ((options.encoding ?? 'base64') === 'base64') {
    const { buffer, byteOffset, byteLength } = tensor.data
    return {
      dtype: tensor.dtype,
      shape,
      base64: Buffer.from(buffer, byteOffset, byteLength).toString('base64'),
    }
  }
  let data: unknown[]
  if (tensor.dtype === 'int64' || tensor.dtype === 'uint64')
    data = Array.from(tensor.data as BigInt64Array, (value) => value.toString())
  else if (tensor.dtype === 'float16')
    data = Array.from(new Float16Array((tensor.data as Uint16Array).slice().buffer))
  else if (tensor.dtype === 'bool')
    data = Array.from(tensor.data as Uint8Array, (value) => value === 1)
  else data = Array.from(tensor.data as Float32Array)
  return { dtype: tensor.dtype, shape, data }
}

/** Converts named tensors to JSON; see {@link tensorToJson}. */
export function namedTensorsToJson(
  tensors: NamedTensors,
  options: TensorToJsonOptions = {},
): NamedTensorsJson {
  return Object.fromEntries(
    Object.entries(tensors).map(([name, tensor]) => [name, tensorToJson(tensor, options)]),
  )
}
