import { assertTensor, BaseError, type Manifest, type Tensor } from '@verity/protocol'
import { checkTensorAgainstSpec, type DimBinding } from './shapeCheck.ts'

/**
 * Checks what a model produced against its manifest, after a run: exactly the declared outputs
 * (`ENGINE_OUTPUT_UNSUPPORTED` if one is missing), each well formed, with the declared dtype
 * (`TENSOR_DTYPE_MISMATCH`) and shape (`TENSOR_SHAPE_MISMATCH`); named dims already bound by the
 * inputs (`dims` from `validateInputs`) must keep their value. A failure here means the manifest
 * does not describe the model, so the messages say to fix the manifest.
 *
 * @example
 * ```ts
 * const { dims } = validateInputs(manifest, inputs)
 * validateOutputs(manifest, outputs, dims)
 * ```
 */
export function validateOutputs(
  manifest: Manifest,
  outputs: Readonly<Record<string, Tensor>>,
  dims: Readonly<Record<string, number>> = {},
): void {
  const bindings = new Map<string, DimBinding>(
    Object.entries(dims).map(([name, value]) => [name, { value, by: 'the inputs' }]),
  )
  for (const spec of manifest.outputs) {
    const tensor = outputs[spec.name]
    if (tensor === undefined)
      throw new BaseError(
        'ENGINE_OUTPUT_UNSUPPORTED',
        `The model did not produce the declared output "${spec.name}".`,
        { metaMessages: ['Check the output names in the manifest against the model.'] },
      )
    assertTensor(tensor, `Output "${spec.name}"`)
    checkTensorAgainstSpec('Output', spec, tensor, bindings)
  }
}
