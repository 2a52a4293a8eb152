import { BaseError, tensorLimits } from '@verity/protocol'
import {
  inspectOnnx,
  type OnnxExternalData,
  type OnnxInfo,
  type OnnxLimits,
  resolveOnnxLimits,
} from './inspectOnnx.ts'
import { quoteName } from './onnxProto.ts'

function describeExternal(entry: OnnxExternalData): string {
  const location =
    entry.location === undefined
      ? 'no location given'
      : `location ${JSON.stringify(entry.location.slice(0, 200))}`
  const danger =
    entry.danger === 'absolute path'
      ? ' (an ABSOLUTE path: it points anywhere on the machine)'
      : entry.danger === 'path traversal'
        ? " (PATH TRAVERSAL: '..' climbs out of the model's folder)"
        : ''
  return `${entry.where}: tensor ${quoteName(entry.tensor)} is stored externally, ${location}${danger}`
}

function refuseExternalData(externalData: readonly OnnxExternalData[]): void {
  if (externalData.length === 0) return
  const dangerous = externalData.filter((entry) => entry.danger !== undefined).length
  throw new BaseError(
    'MODEL_EXTERNAL_DATA',
    `The model keeps ${externalData.length} tensor(s) outside the file${dangerous ? `, ${dangerous} of them at a dangerous location` : ''}; Verity only accepts self-contained models.`,
    {
      metaMessages: [
        ...externalData.slice(0, 20).map(describeExternal),
        ...(externalData.length > 20 ? [`… and ${externalData.length - 20} more.`] : []),
        'External data is never read: a model must not make a node open files by path.',
        'Re-save the model with every tensor inside the file, e.g. in Python: onnx.save_model(onnx.load(path, load_external_data=True), out, save_as_external_data=False).',
      ],
    },
  )
}

function refuseUnusableSignature(info: OnnxInfo): void {
  if (info.unsupportedInputs.length > 0)
    throw new BaseError(
      'MODEL_INVALID',
      `The model has ${info.unsupportedInputs.length} input(s) Verity cannot feed.`,
      {
        metaMessages: [
          ...info.unsupportedInputs.map(
            ({ name, reason }) => `Input ${quoteName(name)}: ${reason}.`,
          ),
          'Verity inputs are dense numeric or bool tensors of known rank (float16/32/64, int8–64, uint8–64, bool).',
        ],
      },
    )
  if (info.inputs.length === 0)
    throw new BaseError('MODEL_INVALID', 'The model declares no inputs besides its initializers.', {
      metaMessages: [
        'Verity runs models on caller-supplied inputs; a constant model is not useful.',
      ],
    })
  if (info.outputs.length === 0)
    throw new BaseError('MODEL_INVALID', 'The model has no output Verity can return.', {
      metaMessages: [
        ...(info.skippedOutputs.length
          ? [
              `Skipped outputs (not dense numeric tensors of known rank): ${info.skippedOutputs.map(quoteName).join(', ')}.`,
            ]
          : []),
        'Export the model with at least one tensor output (for scikit-learn converters, e.g. zipmap=False).',
      ],
    })
  if (info.inputs.length > tensorLimits.maxTensors || info.outputs.length > tensorLimits.maxTensors)
    throw new BaseError(
      'MODEL_INVALID',
      `The model has ${info.inputs.length} inputs and ${info.outputs.length} outputs; at most ${tensorLimits.maxTensors} of each are supported.`,
    )
}

function refuseLargeDims(info: OnnxInfo, maxDim: number): void {
  const problems: string[] = []
  for (const [role, specs] of [
    ['Input', info.inputs],
    ['Output', info.outputs],
  ] as const)
    for (const spec of specs)
      spec.shape.forEach((dim, axis) => {
        if (typeof dim === 'number' && dim > maxDim)
          problems.push(`${role} ${quoteName(spec.name)} axis ${axis} is ${dim}.`)
      })
  if (problems.length)
    throw new BaseError(
      'MODEL_DIM_TOO_LARGE',
      `The model declares ${problems.length} fixed dimension(s) above the limit of ${maxDim}.`,
      {
        metaMessages: [
          ...problems,
          'Raise maxDim if such tensors are intended; otherwise the file is likely hostile or broken.',
        ],
      },
    )
}

function refuseUnsupportedOperators(info: OnnxInfo, supported: ReadonlySet<string>): void {
  const unsupported = info.operators.filter((operator) => !supported.has(operator))
  if (unsupported.length)
    throw new BaseError(
      'MODEL_UNSUPPORTED_OPERATOR',
      `The model uses ${unsupported.length} operator(s) the engine does not support: ${unsupported.join(', ')}.`,
      {
        metaMessages: [
          `Opsets imported: ${Object.entries(info.opsets)
            .map(([domain, version]) => `${domain} v${version}`)
            .join(', ')}.`,
          'Re-export the model without these operators, or run it on an engine that supports them.',
        ],
      },
    )
}

function refuseUnsupportedOpsets(
  info: OnnxInfo,
  supported: Readonly<Record<string, { min: number; max: number }>>,
): void {
  const problems = Object.entries(info.opsets).flatMap(([domain, version]) => {
    const range = supported[domain]
    // an imported domain the engine does not know is harmless unless one of its operators is used,
    // which the operator check catches
    if (!range) return []
    if (version < range.min || version > range.max)
      return [`${domain} opset ${version} is outside the supported range ${range.min}–${range.max}`]
    return []
  })
  if (problems.length)
    throw new BaseError(
      'MODEL_UNSUPPORTED_OPERATOR',
      `The model imports opsets the engine cannot run: ${problems.join('; ')}.`,
      {
        metaMessages: [
          'Convert the model to a supported opset (e.g. onnx.version_converter.convert_version(model, 13)).',
        ],
      },
    )
}

/**
 * Inspects an ONNX file and refuses anything Verity will not run, each with its own code:
 *
 * - `MODEL_TOO_LARGE`: file over `maxModelBytes` (checked before parsing),
 * - `MODEL_INVALID`: not a protobuf ModelProto, no graph, no inputs or no returnable outputs,
 *   inputs of unsupported dtype (string, complex, bfloat16, …) or non-tensor type,
 * - `MODEL_EXTERNAL_DATA`: any tensor stored outside the file, in initializers, `Constant`
 *   attributes or `If`/`Loop`/`Scan` subgraphs (the message names each location and calls out
 *   absolute paths and `..` traversal),
 * - `MODEL_DIM_TOO_LARGE`: a fixed input/output dimension over `maxDim`,
 * - `MODEL_UNSUPPORTED_OPERATOR`: operators outside `supportedOperators` (all listed), or opset
 *   versions outside `supportedOpsets`.
 *
 * @example
 * ```ts
 * const info = validateOnnx(bytes, { supportedOperators: engine.supportedOperators })
 * ```
 */
export function validateOnnx(bytes: Uint8Array, options: Partial<OnnxLimits> = {}): OnnxInfo {
  const limits = resolveOnnxLimits(options)
  const info = inspectOnnx(bytes, limits)
  refuseExternalData(info.externalData)
  refuseUnusableSignature(info)
  refuseLargeDims(info, limits.maxDim)
  if (limits.supportedOpsets) refuseUnsupportedOpsets(info, limits.supportedOpsets)
  if (limits.supportedOperators) refuseUnsupportedOperators(info, limits.supportedOperators)
  return info
}
