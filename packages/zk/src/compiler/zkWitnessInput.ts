import { BaseError } from '@verity/protocol'
import { toField } from '../commitment/toField.ts'

/**
 * The circuit input of a compiled model for one input tensor given as its raw bytes: `{ in }` with
 * one decimal field element per byte (uint8: the byte; int8: the signed value, negative as
 * `p − |v|`). Pass it to the witness calculator.
 *
 * @example
 * ```ts
 * const input = zkWitnessInput(image, 'uint8', 784) // { in: ['0', '0', '17', …] }
 * ```
 */
export function zkWitnessInput(
  bytes: Uint8Array,
  inputDtype: 'uint8' | 'int8',
  expectedLength?: number,
): { in: string[] } {
  if (!(bytes instanceof Uint8Array))
    throw new BaseError(
      'INVALID_ARGUMENT',
      'The circuit input must be the raw bytes of the input tensor (a Uint8Array).',
    )
  if (expectedLength !== undefined && bytes.length !== expectedLength)
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `The circuit takes ${expectedLength} input bytes; got ${bytes.length}.`,
      { metaMessages: ['Pass the whole input tensor (batch 1), row-major.'] },
    )
  return {
    in: Array.from(bytes, (byte) =>
      inputDtype === 'int8' ? toField(BigInt((byte << 24) >> 24)).toString() : String(byte),
    ),
  }
}
