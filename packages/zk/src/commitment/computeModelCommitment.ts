import { createHash } from 'node:crypto'
import { BaseError } from '@verity/protocol'
import { zkFieldOrder } from './toField.ts'

/**
 * The model commitment: sha256 of the ONNX model bytes, read as a big-endian integer and reduced
 * modulo the BN254 scalar field order. The circuit assigns it as a constant public output, so the
 * verification key binds the model and the public signal names it.
 *
 * @example
 * ```ts
 * const commitment = computeModelCommitment(onnxBytes) // bigint < zkFieldOrder
 * ```
 */
export function computeModelCommitment(onnxBytes: Uint8Array): bigint {
  if (!(onnxBytes instanceof Uint8Array))
    throw new BaseError('INVALID_ARGUMENT', 'computeModelCommitment expects the ONNX file bytes.', {
      metaMessages: ['Read the model file into a Uint8Array first.'],
    })
  const hex = createHash('sha256').update(onnxBytes).digest('hex')
  return BigInt(`0x${hex}`) % zkFieldOrder
}
