import {
  assertTensor,
  BaseError,
  type Manifest,
  type NamedTensors,
  type Tensor,
} from '@verity/protocol'
import { checkTensorAgainstSpec, type DimBinding } from './shapeCheck.ts'

/**
 * Caps that can only tighten the manifest's own `limits` (the smaller value wins).
 *
 * @example
 * ```ts
 * validateInputs(manifest, inputs, { maxInputBytes: 16 << 20 })
 * ```
 */
export type ValidateInputsLimits = {
  maxInputBytes?: number | undefined
  maxDim?: number | undefined
}

/** The value of every named dynamic dimension, as bound by the inputs. */
export type ValidateInputsReturnType = { dims: Record<string, number> }

function quoteList(names: readonly string[]): string {
  return names.map((name) => `"${name}"`).join(', ')
}

function effectiveLimit(fromManifest: number, cap: number | undefined): number {
  return cap === undefined ? fromManifest : Math.min(fromManifest, cap)
}

/**
 * Checks untrusted inputs against a model manifest before anything runs:
 *
 * - every declared input is present (`INPUT_MISSING`) and nothing else is (`INPUT_UNEXPECTED`);
 * - each tensor is well formed (`TENSOR_INVALID`, via `assertTensor`), has the declared dtype
 *   (`TENSOR_DTYPE_MISMATCH`), rank and fixed dims, and named dynamic dims are bound consistently
 *   across inputs (`TENSOR_SHAPE_MISMATCH`);
 * - every dim is ≤ `limits.maxDim` and the inputs' total data bytes are ≤ `limits.maxInputBytes`
 *   (`TENSOR_TOO_LARGE`).
 *
 * Messages name the input, the expected and the found shape.
 *
 * @example
 * ```ts
 * const { dims } = validateInputs(manifest, { x: { dtype: 'float32', shape: [2, 4], data } })
 * dims // { batch: 2 } when the manifest declares x as ["batch", 4]
 * ```
 */
export function validateInputs(
  manifest: Manifest,
  inputs: NamedTensors,
  limits: ValidateInputsLimits = {},
): ValidateInputsReturnType {
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs))
    throw new BaseError('INVALID_ARGUMENT', 'Inputs must be an object of named tensors.', {
      metaMessages: [`The model expects inputs ${quoteList(manifest.inputs.map((s) => s.name))}.`],
    })
  const declared = manifest.inputs.map((spec) => spec.name)
  for (const spec of manifest.inputs)
    if (!Object.hasOwn(inputs, spec.name))
      throw new BaseError(
        'INPUT_MISSING',
        `Input "${spec.name}" is missing; the model expects ${quoteList(declared)}.`,
        {
          metaMessages: [
            `Send "${spec.name}" as ${spec.dtype} with shape ${JSON.stringify(spec.shape)}.`,
          ],
        },
      )
  for (const name of Object.keys(inputs))
    if (!declared.includes(name))
      throw new BaseError(
        'INPUT_UNEXPECTED',
        `Input "${name}" is not declared by the model; it expects only ${quoteList(declared)}.`,
        { metaMessages: ['Remove the extra input or check the input names in the manifest.'] },
      )

  const maxDim = effectiveLimit(manifest.limits.maxDim, limits.maxDim)
  const maxInputBytes = effectiveLimit(manifest.limits.maxInputBytes, limits.maxInputBytes)
  const bindings = new Map<string, DimBinding>()
  let totalBytes = 0
  for (const spec of manifest.inputs) {
    const tensor = inputs[spec.name] as Tensor
    assertTensor(tensor, `Input "${spec.name}"`)
    checkTensorAgainstSpec('Input', spec, tensor, bindings, maxDim)
    totalBytes += tensor.data.byteLength
  }
  if (totalBytes > maxInputBytes)
    throw new BaseError(
      'TENSOR_TOO_LARGE',
      `Inputs total ${totalBytes} bytes, above the model's limit of ${maxInputBytes} bytes.`,
      { metaMessages: ['Split the request into smaller ones.'] },
    )
  const dims: Record<string, number> = {}
  for (const [name, binding] of bindings) dims[name] = binding.value
  return { dims }
}
