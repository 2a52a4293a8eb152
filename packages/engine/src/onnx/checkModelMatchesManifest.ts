import { BaseError, type Manifest, type TensorSpec } from '@verity/protocol'
import type { OnnxLoadReply, OnnxValueInfo } from './onnxWorkerProtocol.ts'

function shapeProblem(
  kind: string,
  spec: TensorSpec,
  info: OnnxValueInfo,
  checkDims: boolean,
): string | undefined {
  if (info.dtype !== spec.dtype)
    return `${kind} "${spec.name}": the manifest declares ${spec.dtype}, the model has ${info.dtype}.`
  const modelShape = info.shape ?? []
  // ORT reports an unknown shape as []: only compare when the model states a rank.
  if (!checkDims || modelShape.length === 0) return undefined
  const mismatch =
    modelShape.length !== spec.shape.length ||
    modelShape.some(
      (dim, axis) =>
        typeof dim === 'number' && typeof spec.shape[axis] === 'number' && dim !== spec.shape[axis],
    )
  return mismatch
    ? `${kind} "${spec.name}": the manifest declares shape ${JSON.stringify(spec.shape)}, the model has ${JSON.stringify(modelShape)}.`
    : undefined
}

/**
 * Checks a loaded model's inputs and outputs (as onnxruntime reports them) against its manifest:
 * the manifest's inputs are exactly the model's inputs, with the same dtypes, ranks and fixed
 * dims; its outputs exist in the model with the same dtypes. Throws `ENGINE_OUTPUT_UNSUPPORTED`
 * if a declared output is not a tensor (a sequence or map, e.g. scikit-learn's ZipMap), and
 * `MANIFEST_INVALID` listing every other mismatch.
 *
 * @example
 * ```ts
 * checkModelMatchesManifest('mnist', manifest, { inputs: session.inputMetadata, outputs: session.outputMetadata })
 * ```
 */
export function checkModelMatchesManifest(
  id: string,
  manifest: Manifest,
  model: OnnxLoadReply,
): void {
  const modelInputs = new Map(model.inputs.map((info) => [info.name, info]))
  const modelOutputs = new Map(model.outputs.map((info) => [info.name, info]))
  for (const spec of manifest.outputs) {
    const info = modelOutputs.get(spec.name)
    if (info && !info.isTensor)
      throw new BaseError(
        'ENGINE_OUTPUT_UNSUPPORTED',
        `Output "${spec.name}" of model "${id}" is not a tensor (a sequence or map); Verity only returns tensors.`,
        {
          metaMessages: [
            'Declare only tensor outputs in the manifest (for scikit-learn models, convert with zipmap=False).',
          ],
        },
      )
  }
  const problems: string[] = []
  const declared = new Set(manifest.inputs.map((spec) => spec.name))
  for (const info of model.inputs)
    if (!declared.has(info.name))
      problems.push(`input "${info.name}" is required by the model but not declared.`)
  for (const spec of manifest.inputs) {
    const info = modelInputs.get(spec.name)
    if (!info) problems.push(`input "${spec.name}" is declared but the model has no such input.`)
    else if (!info.isTensor) problems.push(`input "${spec.name}" is not a tensor in the model.`)
    else {
      const problem = shapeProblem('input', spec, info, true)
      if (problem) problems.push(problem)
    }
  }
  for (const spec of manifest.outputs) {
    const info = modelOutputs.get(spec.name)
    if (!info) problems.push(`output "${spec.name}" is declared but the model has no such output.`)
    else {
      const problem = shapeProblem('output', spec, info, false)
      if (problem) problems.push(problem)
    }
  }
  if (problems.length > 0)
    throw new BaseError(
      'MANIFEST_INVALID',
      `The manifest does not describe model "${id}" (${problems.length} problem${problems.length === 1 ? '' : 's'}).`,
      {
        metaMessages: [
          ...problems,
          `Model inputs: ${model.inputs.map((info) => `${info.name} ${info.dtype ?? 'non-tensor'} ${JSON.stringify(info.shape ?? [])}`).join('; ')}.`,
        ],
      },
    )
}
