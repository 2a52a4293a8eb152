import { BaseError, type Tensor, type TensorSpec } from '@verity/protocol'

/** Where a named dynamic dimension got its value: the size and the tensor that set it (`input "x"`). */
export type DimBinding = { value: number; by: string }

/**
 * Formats a declared shape for messages: fixed sizes as numbers, dynamic dims as quoted names.
 *
 * @example
 * ```ts
 * formatSpecShape(['batch', 3]) // '["batch",3]'
 * ```
 */
export function formatSpecShape(shape: TensorSpec['shape']): string {
  return JSON.stringify(shape)
}

/**
 * Formats an actual shape for messages.
 *
 * @example
 * ```ts
 * formatShape([1, 3]) // '[1,3]'
 * ```
 */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`
}

/**
 * Checks a tensor's dtype, rank and dims against its declared spec, binding named dynamic dims in
 * `bindings` (shared across all tensors of one call, so `"batch"` must agree everywhere). `kind`
 * ("Input" / "Output") only shapes the messages. Throws `TENSOR_DTYPE_MISMATCH` or
 * `TENSOR_SHAPE_MISMATCH`, or `TENSOR_TOO_LARGE` for a dim above `maxDim`.
 *
 * @example
 * ```ts
 * const bindings = new Map<string, DimBinding>()
 * checkTensorAgainstSpec('Input', { name: 'x', dtype: 'float32', shape: ['batch', 2] }, x, bindings)
 * bindings.get('batch') // { value: 1, by: 'input "x"' }
 * ```
 */
export function checkTensorAgainstSpec(
  kind: 'Input' | 'Output',
  spec: TensorSpec,
  tensor: Tensor,
  bindings: Map<string, DimBinding>,
  maxDim = Number.POSITIVE_INFINITY,
): void {
  const label = `${kind} "${spec.name}"`
  const hint = (forInput: string) => ({
    metaMessages: [
      kind === 'Input' ? forInput : 'The model disagrees with its manifest: fix the manifest.',
    ],
  })
  if (tensor.dtype !== spec.dtype)
    throw new BaseError(
      'TENSOR_DTYPE_MISMATCH',
      `${label} has dtype ${tensor.dtype}, expected ${spec.dtype}.`,
      hint(`Convert the tensor to ${spec.dtype} before sending it.`),
    )
  const found = formatShape(tensor.shape)
  const expected = formatSpecShape(spec.shape)
  if (tensor.shape.length !== spec.shape.length)
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `${label} has shape ${found} (rank ${tensor.shape.length}), expected ${expected} (rank ${spec.shape.length}).`,
      hint('Reshape the tensor to the declared rank.'),
    )
  for (let axis = 0; axis < spec.shape.length; axis++) {
    const want = spec.shape[axis]!
    const got = tensor.shape[axis]!
    if (got > maxDim)
      throw new BaseError(
        'TENSOR_TOO_LARGE',
        `${label} has shape ${found}: dimension ${axis} is ${got}, above the model's limit of ${maxDim}.`,
        hint('Split the request into smaller ones.'),
      )
    if (typeof want === 'number') {
      if (got !== want)
        throw new BaseError(
          'TENSOR_SHAPE_MISMATCH',
          `${label} has shape ${found}, expected ${expected}: dimension ${axis} is ${got}, expected ${want}.`,
          hint('Reshape or resize the tensor to the declared shape.'),
        )
      continue
    }
    const bound = bindings.get(want)
    const by = `${kind.toLowerCase()} "${spec.name}"`
    if (!bound) bindings.set(want, { value: got, by })
    else if (bound.value !== got)
      throw new BaseError(
        'TENSOR_SHAPE_MISMATCH',
        `${label} has shape ${found}, expected ${expected}: dimension ${axis} ("${want}") is ${got}, but ${bound.by === by ? 'an earlier dimension of the same tensor' : bound.by} bound "${want}" to ${bound.value}.`,
        hint(`Every dimension named "${want}" must have the same size.`),
      )
  }
}
