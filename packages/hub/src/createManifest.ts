import { createHash } from 'node:crypto'
import {
  BaseError,
  bn254ScalarField,
  type Comparison,
  type Dtype,
  type EngineDescriptor,
  type Manifest,
  type ManifestZk,
  parseManifest,
} from '@verity/protocol'
import { defaultOnnxLimits, type OnnxInfo } from './inspectOnnx.ts'

/**
 * Run-time limits written into a manifest when the caller gives none: 16 MiB of input,
 * {@link defaultOnnxLimits}`.maxDim` for any dynamic dimension, 30 s per call.
 *
 * @example
 * ```ts
 * createManifest({ ...parameters, limits: { ...defaultManifestLimits, timeoutMs: 5000 } })
 * ```
 */
export const defaultManifestLimits: Manifest['limits'] = Object.freeze({
  maxInputBytes: 16 * 1024 * 1024,
  maxDim: defaultOnnxLimits.maxDim,
  timeoutMs: 30_000,
})

/**
 * Float outputs are compared within `absolute + relative * |expected|` by default.
 *
 * @example
 * ```ts
 * defaultFloatTolerance // { kind: 'tolerance', absolute: 1e-5, relative: 1e-4 }
 * ```
 */
export const defaultFloatTolerance: Comparison = Object.freeze({
  kind: 'tolerance',
  absolute: 1e-5,
  relative: 1e-4,
})

const exactDtypes: ReadonlySet<Dtype> = new Set<Dtype>([
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'bool',
])

const namePattern = /^[a-z0-9][a-z0-9._-]{0,63}$/

export type CreateManifestParameters = {
  /** The model file (its length becomes `size`). */
  bytes: Uint8Array
  /** Its CID, from {@link computeCid}. */
  cid: string
  /** What {@link inspectOnnx} / {@link validateOnnx} read from it. */
  info: OnnxInfo
  name: string
  /** Semantic version; default `1.0.0`. */
  version?: string | undefined
  /** SPDX identifier or free text; default `UNLICENSED`. */
  license?: string | undefined
  description?: string | undefined
  creator?: `0x${string}` | undefined
  /** Price per call in wei; default `{ perCall: '0' }`. */
  pricing?: { perCall: string } | undefined
  engine: EngineDescriptor
  /** Default: `exact` when every output is integer/bool, else {@link defaultFloatTolerance}. */
  comparison?: Comparison | undefined
  limits?: Partial<Manifest['limits']> | undefined
  /**
   * The model's zero-knowledge section (from `@verity/zk`'s `setupZkModel`), when it can be
   * proven. Its model commitment must be that of `bytes`, its input and output tensors the
   * model's; otherwise `MANIFEST_INVALID`.
   */
  zk?: ManifestZk | undefined
}

/**
 * The comparison a model's outputs get by default: exact for integer/bool-only outputs, a float
 * tolerance otherwise.
 *
 * @example
 * ```ts
 * defaultComparison([{ name: 'label', dtype: 'int64', shape: [1] }]) // { kind: 'exact' }
 * ```
 */
export function defaultComparison(outputs: OnnxInfo['outputs']): Comparison {
  return outputs.length > 0 && outputs.every((output) => exactDtypes.has(output.dtype))
    ? { kind: 'exact' }
    : { ...defaultFloatTolerance }
}

/**
 * Builds the manifest of an ONNX model from its bytes, CID and inspection, filling defaults
 * (version `1.0.0`, license `UNLICENSED`, free pricing, 16 MiB / `maxDim` / 30 s limits) and
 * validating the result with `parseManifest`. Throws `MANIFEST_INVALID` (with a hint) for a bad
 * name or any other field the schema refuses.
 *
 * @example
 * ```ts
 * const info = validateOnnx(bytes)
 * const manifest = createManifest({ bytes, cid: await computeCid(bytes), info, name: 'mnist-8', engine })
 * ```
 */
export function createManifest(parameters: CreateManifestParameters): Manifest {
  const { bytes, cid, info, name, engine } = parameters
  if (typeof name !== 'string' || !namePattern.test(name))
    throw new BaseError(
      'MANIFEST_INVALID',
      `The model name ${JSON.stringify(name)} is not valid.`,
      {
        metaMessages: [
          'A name is 1 to 64 characters: lowercase letters, digits, ".", "_" or "-", starting with a letter or digit.',
          `For example: ${JSON.stringify(suggestName(String(name)))}.`,
        ],
      },
    )
  const manifest: Manifest = {
    schema: 'verity.manifest/1',
    name,
    version: parameters.version ?? '1.0.0',
    ...(parameters.description === undefined ? {} : { description: parameters.description }),
    format: 'onnx',
    cid,
    size: bytes.length,
    inputs: info.inputs.map((spec) => ({ ...spec, shape: [...spec.shape] })),
    outputs: info.outputs.map((spec) => ({ ...spec, shape: [...spec.shape] })),
    comparison: parameters.comparison ?? defaultComparison(info.outputs),
    engine,
    limits: { ...defaultManifestLimits, ...parameters.limits },
    license: parameters.license ?? 'UNLICENSED',
    ...(parameters.creator === undefined ? {} : { creator: parameters.creator }),
    pricing: parameters.pricing ?? { perCall: '0' },
    onnx: {
      irVersion: info.irVersion,
      opsets: { ...info.opsets },
      producer: info.producer,
      operators: [...info.operators],
    },
    ...(parameters.zk === undefined ? {} : { zk: checkZkSection(parameters.zk, bytes, info) }),
  }
  return parseManifest(manifest)
}

/**
 * The zk commitment of a model file: sha256 of the bytes, read big-endian, mod the BN254 scalar
 * field (the circuit's last public signal; `@verity/zk`'s `computeModelCommitment`, which the hub
 * cannot import: `zk` depends on `hub`).
 */
function zkModelCommitment(bytes: Uint8Array): bigint {
  const hex = createHash('sha256').update(bytes).digest('hex')
  return BigInt(`0x${hex}`) % bn254ScalarField
}

/** A zk section belongs to these bytes and names tensors the model has (else `MANIFEST_INVALID`). */
function checkZkSection(zk: ManifestZk, bytes: Uint8Array, info: OnnxInfo): ManifestZk {
  const refuse = (problem: string) =>
    new BaseError('MANIFEST_INVALID', `The zk section does not fit this model: ${problem}.`, {
      metaMessages: [
        'Use the zk section that `verity zk compile` (setupZkModel) produced for this very file.',
      ],
    })
  const commitment = zkModelCommitment(bytes).toString()
  if (zk.modelCommitment !== commitment)
    throw refuse(
      `its model commitment is ${zk.modelCommitment}, the file's is ${commitment} (another file was compiled)`,
    )
  const input = info.inputs.find((spec) => spec.name === zk.input.name)
  if (input === undefined || input.dtype !== 'uint8')
    throw refuse(`the model has no uint8 input "${zk.input.name}"`)
  const output = info.outputs.find((spec) => spec.name === zk.output.name)
  if (output === undefined || output.dtype !== 'int32')
    throw refuse(`the model has no int32 output "${zk.output.name}"`)
  return zk
}

/** A valid name close to what the user typed, for the error hint. */
function suggestName(name: string): string {
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 64)
  return cleaned || 'my-model'
}
