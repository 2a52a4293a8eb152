import type { Dtype, Tensor, TensorData } from '@verity/protocol'
import { Tensor as OrtTensor } from 'onnxruntime-node'

// Importing this module loads onnxruntime's native library, so only the worker process and the
// benchmark import it; the engine's main side never does. It has no runtime dependency on
// @verity/protocol (only types), which keeps a worker's start fast (~0.5 s less).

// The element types Verity encodes; ORT uses the same names for them.
const encodable: ReadonlySet<string> = new Set<Dtype>([
  'float32',
  'uint8',
  'int8',
  'uint16',
  'int16',
  'int32',
  'int64',
  'bool',
  'float16',
  'float64',
  'uint32',
  'uint64',
])

/**
 * Wraps a protocol tensor as an onnxruntime tensor without copying (ORT reads the typed array).
 * float16 travels as its raw bits (`Uint16Array`), bool as 0/1 bytes, int64 as `BigInt64Array`,
 * which is what ORT expects.
 *
 * @example
 * ```ts
 * const feed = tensorToOrt({ dtype: 'float32', shape: [1, 2], data: new Float32Array([1, 2]) })
 * ```
 */
export function tensorToOrt(tensor: Tensor): OrtTensor {
  // ORT's constructor overloads are per dtype; the engine already checked that data fits dtype.
  return new OrtTensor(tensor.dtype as 'float32', tensor.data as Float32Array, tensor.shape)
}

/** Why {@link tensorFromOrt} could not convert a value. */
export type OrtTensorProblem = 'not-a-tensor' | 'unsupported-type'

/**
 * Copies an onnxruntime output into a protocol tensor that owns its memory (ORT's buffers are
 * not kept): float16 as its IEEE half bits (`Uint16Array`, even if ORT hands out a
 * `Float16Array`), bool as 0/1 bytes, int64 as `BigInt64Array`. Returns a problem instead for
 * non-tensor values (sequences, maps) and for element types Verity does not encode (string,
 * bfloat16, 4-bit, …); callers turn it into `ENGINE_OUTPUT_UNSUPPORTED`.
 *
 * @example
 * ```ts
 * const results = await session.run(feeds, ['y'])
 * const y = tensorFromOrt(results.y) // { dtype: 'float32', shape: [1, 10], data: Float32Array(10) }
 * ```
 */
export function tensorFromOrt(value: unknown): Tensor | OrtTensorProblem {
  if (!(value instanceof OrtTensor)) return 'not-a-tensor'
  if (value.location !== 'cpu' || !encodable.has(value.type)) return 'unsupported-type'
  const dtype = value.type as Dtype
  const source = value.data as unknown as ArrayBufferView & { length: number }
  let data: TensorData
  if (dtype === 'float16')
    data = new Uint16Array(source.buffer, source.byteOffset, source.length).slice()
  else if (dtype === 'bool')
    data = new Uint8Array(source.buffer, source.byteOffset, source.length).map((bit) =>
      bit ? 1 : 0,
    )
  else data = (source as unknown as TensorData).slice()
  return { dtype, shape: [...value.dims], data }
}
