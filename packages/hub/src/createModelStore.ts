/**
 * The on-disk, content-addressed model store.
 *
 * Layout under `dir`:
 *
 * ```
 * <dir>/models/<cid>            the model file, byte for byte (its CIDv1 is its name)
 * <dir>/manifests/<cid>.json    the manifest, as RFC 8785 canonical JSON
 * ```
 *
 * - ONNX and GGUF (llama.cpp) models live side by side: `add` tells them apart by the GGUF magic
 *   and validates each with its own checks (`validateOnnx` / `validateGguf`).
 *
 * - Writes are atomic (temporary file in the same folder, fsync, rename, fsync of the folder):
 *   a crash leaves either nothing or a complete file. The model is written before its manifest,
 *   so a manifest never points at a missing or partial model; leftover `.*.tmp` files are ignored.
 * - A manifest file is the store's index entry: `list` and `resolve` read every manifest back
 *   through `parseManifest` and also check that it is canonical, names its own CID and matches the
 *   model file's size. The disk is untrusted too.
 * - One process writes a store at a time (adds are serialized within the process).
 */
import { mkdir, readdir, readFile, stat } from 'node:fs/promises'
import { join, resolve as resolvePath } from 'node:path'
import {
  BaseError,
  canonicalJson,
  type EngineDescriptor,
  type Hash,
  hashManifest,
  isBaseError,
  type Manifest,
  parseManifest,
} from '@verity/protocol'
import { CID } from 'multiformats/cid'
import { compareVersions } from './compareVersions.ts'
import { computeCid } from './computeCid.ts'
import { type CreateManifestParameters, createManifest } from './createManifest.ts'
import { createGgufManifest, type GgufDecoding } from './gguf/createGgufManifest.ts'
import { type GgufLimits, hasGgufMagic } from './gguf/parseGgufHeader.ts'
import { validateGguf } from './gguf/validateGguf.ts'
import type { OnnxLimits } from './inspectOnnx.ts'
import { validateOnnx } from './validateOnnx.ts'
import { writeFileAtomic } from './writeFileAtomic.ts'

/** A model in the store: its CID, manifest (validated), manifest hash and file path. */
export type StoredModel = {
  cid: string
  manifest: Manifest
  manifestHash: Hash
  /** Absolute path of the model file. */
  path: string
}

export type ModelStoreOptions = {
  /** The store's root folder; created on first write. */
  dir: string
  /** Limits for validating added ONNX files (default {@link defaultOnnxLimits}). */
  limits?: Partial<Omit<OnnxLimits, 'supportedOperators' | 'supportedOpsets'>>
  /** Limits for validating added GGUF files (default {@link defaultGgufLimits}). */
  ggufLimits?: Partial<GgufLimits> | undefined
}

/**
 * What {@link createManifest} (ONNX) or {@link createGgufManifest} (GGUF) needs, minus what the
 * store derives (cid, info), plus admission.
 */
export type AddModelParameters = Omit<CreateManifestParameters, 'cid' | 'info' | 'engine'> & {
  /**
   * The engine that runs the model. Required for ONNX. For GGUF it must be a `llama.cpp`
   * descriptor agreeing with `decoding`; default {@link llamaCppEngineDescriptor}.
   */
  engine?: EngineDescriptor | undefined
  /** GGUF only: the pinned decoding configuration (defaults: {@link defaultGgufDecoding}). */
  decoding?: Partial<GgufDecoding> | undefined
  /** GGUF only: the architectures the engine runs; others are refused. */
  supportedArchitectures?: ReadonlySet<string> | undefined
  /** The engine's operator set; operators outside it are refused. */
  supportedOperators?: ReadonlySet<string> | undefined
  /** The engine's opset ranges per domain; other versions are refused. */
  supportedOpsets?: Readonly<Record<string, { min: number; max: number }>> | undefined
  /**
   * A last admission check before anything is written, e.g. a trial load in the engine that will
   * run the model. Whatever it throws refuses the model and leaves the store unchanged.
   */
  admit?: ((candidate: { bytes: Uint8Array; manifest: Manifest }) => Promise<void>) | undefined
}

export type AddModelReturnType = {
  cid: string
  manifest: Manifest
  manifestHash: Hash
  /** `false` when the same file with the same manifest was already stored. */
  added: boolean
  path: string
}

export type ModelStore = {
  /** The absolute root folder. */
  readonly dir: string
  /**
   * Validates, hashes and stores an ONNX or GGUF model (told apart by the GGUF magic) with its
   * manifest. Idempotent.
   */
  add(parameters: AddModelParameters): Promise<AddModelReturnType>
  /** Finds a model by CID, by name (highest version) or by `name@version`. */
  resolve(reference: string): Promise<StoredModel>
  /** The model file's bytes; `verify` recomputes the CID (`MODEL_CID_MISMATCH` on corruption). */
  read(cid: string, options?: { verify?: boolean | undefined }): Promise<Uint8Array>
  /** Every stored model, sorted by name then version. */
  list(): Promise<StoredModel[]>
}

const manifestFilePattern = /^(b[a-z2-7]{20,200})\.json$/
const rawCode = 0x55
const dagPbCode = 0x70
const sha256Code = 0x12

/**
 * The canonical CIDv1 string if `value` is one the store can hold (raw or dag-pb, sha2-256,
 * base32), else `undefined`. Only such strings ever become file names, so no path tricks.
 */
function canonicalCid(value: string): string | undefined {
  if (!/^b[a-z2-7]{20,200}$/.test(value)) return undefined
  try {
    const cid = CID.parse(value)
    if (cid.version !== 1 || (cid.code !== rawCode && cid.code !== dagPbCode)) return undefined
    if (cid.multihash.code !== sha256Code || cid.toString() !== value) return undefined
    return value
  } catch {
    return undefined
  }
}

function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ENOENT'
}

function tampered(file: string, problem: string, hints: string[] = [], cause?: unknown) {
  return new BaseError('MANIFEST_INVALID', `The stored manifest ${file} is invalid: ${problem}`, {
    metaMessages: [
      ...hints,
      'The store does not trust its own disk. Delete the file and add the model again (verity model add).',
    ],
    ...(cause === undefined ? {} : { cause }),
  })
}

/**
 * Opens (lazily creating) a content-addressed model store in `dir`.
 *
 * @example
 * ```ts
 * const store = createModelStore({ dir: '.verity/hub' })
 * const { cid } = await store.add({ bytes, name: 'mnist-8', engine })
 * const model = await store.resolve('mnist-8@1.0.0')
 * const bytes = await store.read(model.cid, { verify: true })
 * ```
 */
export function createModelStore(options: ModelStoreOptions): ModelStore {
  const dir = resolvePath(options.dir)
  const modelsDir = join(dir, 'models')
  const manifestsDir = join(dir, 'manifests')
  const modelPath = (cid: string) => join(modelsDir, cid)
  const manifestPath = (cid: string) => join(manifestsDir, `${cid}.json`)
  let queue: Promise<unknown> = Promise.resolve()

  function serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = queue.then(task, task)
    queue = run.catch(() => undefined)
    return run
  }

  async function load(cid: string): Promise<StoredModel> {
    const file = manifestPath(cid)
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      if (isNotFound(error))
        throw new BaseError('MODEL_NOT_FOUND', `No model with CID ${cid} in ${dir}.`, {
          metaMessages: ['Add it first: verity model add <file.onnx> --name <name>'],
        })
      throw error
    }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (cause) {
      throw tampered(file, 'it is not JSON.', [], cause)
    }
    let manifest: Manifest
    try {
      manifest = parseManifest(value)
    } catch (cause) {
      throw tampered(
        file,
        'it does not match the manifest schema.',
        isBaseError(cause) ? [...cause.metaMessages] : [],
        cause,
      )
    }
    if (manifest.cid !== cid)
      throw tampered(file, `it describes ${manifest.cid}, not the file it is named after.`)
    if (canonicalJson(manifest) !== text)
      throw tampered(file, 'it is not in canonical JSON form, so it was not written by the store.')
    const path = modelPath(cid)
    let size: number
    try {
      size = (await stat(path)).size
    } catch (error) {
      if (isNotFound(error))
        throw new BaseError(
          'MODEL_NOT_FOUND',
          `The manifest of ${cid} exists but the model file ${path} is missing.`,
          {
            metaMessages: [
              'Add the original file again to restore it: verity model add <file.onnx>',
            ],
          },
        )
      throw error
    }
    if (size !== manifest.size)
      throw new BaseError(
        'MODEL_CID_MISMATCH',
        `The model file ${path} has ${size} bytes but its manifest says ${manifest.size}: one of them was altered.`,
        {
          metaMessages: [
            'Add the original file again to repair it (verity model add <file.onnx>); read it with verify to check its CID.',
          ],
        },
      )
    return { cid, manifest, manifestHash: hashManifest(manifest), path }
  }

  async function list(): Promise<StoredModel[]> {
    let names: string[]
    try {
      names = await readdir(manifestsDir)
    } catch (error) {
      if (isNotFound(error)) return []
      throw error
    }
    const models: StoredModel[] = []
    for (const name of names.sort()) {
      const cid = manifestFilePattern.exec(name)?.[1]
      if (cid === undefined) continue // temporary files, stray files
      if (canonicalCid(cid) === undefined)
        throw tampered(join(manifestsDir, name), 'its file name is not a CIDv1 the store writes.')
      models.push(await load(cid))
    }
    return models.sort(
      (a, b) =>
        (a.manifest.name < b.manifest.name ? -1 : a.manifest.name > b.manifest.name ? 1 : 0) ||
        compareVersions(a.manifest.version, b.manifest.version),
    )
  }

  function notFound(reference: string, models: readonly StoredModel[]): BaseError {
    const stored = models.map((model) => `${model.manifest.name}@${model.manifest.version}`)
    const name = reference.split('@')[0] || '<name>'
    return new BaseError('MODEL_NOT_FOUND', `No model "${reference}" in ${dir}.`, {
      metaMessages: [
        `Add it first: verity model add <file.onnx> --name ${name}`,
        stored.length
          ? `Stored models: ${stored.slice(0, 20).join(', ')}${stored.length > 20 ? ', …' : ''}.`
          : 'The store is empty.',
      ],
    })
  }

  async function resolve(reference: string): Promise<StoredModel> {
    if (typeof reference !== 'string' || reference.trim() === '')
      throw new BaseError('INVALID_ARGUMENT', 'A model reference is a CID, a name or name@version.')
    const trimmed = reference.trim()
    const cid = canonicalCid(trimmed)
    if (cid !== undefined) return load(cid)
    const models = await list()
    const at = trimmed.lastIndexOf('@')
    const name = at > 0 ? trimmed.slice(0, at) : trimmed
    const version = at > 0 ? trimmed.slice(at + 1) : undefined
    const candidates = models.filter(
      (model) =>
        model.manifest.name === name &&
        (version === undefined || model.manifest.version === version),
    )
    if (candidates.length === 0) throw notFound(trimmed, models)
    const best = candidates.reduce((a, b) =>
      compareVersions(a.manifest.version, b.manifest.version) >= 0 ? a : b,
    )
    const tied = candidates.filter(
      (model) =>
        model.cid !== best.cid &&
        compareVersions(model.manifest.version, best.manifest.version) === 0,
    )
    if (tied.length)
      throw new BaseError(
        'MODEL_AMBIGUOUS',
        `"${trimmed}" matches ${tied.length + 1} different files: ${[best, ...tied]
          .map((model) => `${model.manifest.version} = ${model.cid}`)
          .join(', ')}.`,
        { metaMessages: ['Refer to the model by CID.'] },
      )
    return best
  }

  async function read(
    cid: string,
    readOptions: { verify?: boolean | undefined } = {},
  ): Promise<Uint8Array> {
    if (canonicalCid(cid) === undefined)
      throw new BaseError('INVALID_ARGUMENT', `${JSON.stringify(cid)} is not a base32 CIDv1.`, {
        metaMessages: ['Resolve a name first: store.resolve("name@version").cid'],
      })
    let bytes: Uint8Array
    try {
      bytes = await readFile(modelPath(cid))
    } catch (error) {
      if (isNotFound(error))
        throw new BaseError('MODEL_NOT_FOUND', `No model file with CID ${cid} in ${dir}.`, {
          metaMessages: ['Add it first: verity model add <file.onnx> --name <name>'],
        })
      throw error
    }
    if (readOptions.verify) {
      const actual = await computeCid(bytes)
      if (actual !== cid)
        throw new BaseError(
          'MODEL_CID_MISMATCH',
          `The stored file for ${cid} hashes to ${actual}: it is corrupted.`,
          {
            metaMessages: [
              'Add the original file again to repair it: verity model add <file.onnx>',
            ],
          },
        )
    }
    return bytes
  }

  /** Writes the model file unless an identical one is already there (repairs a corrupted one). */
  async function ensureModelFile(cid: string, bytes: Uint8Array): Promise<void> {
    try {
      const existing = await readFile(modelPath(cid))
      if (Buffer.compare(existing, bytes) === 0) return
    } catch (error) {
      if (!isNotFound(error)) throw error
    }
    await writeFileAtomic(modelPath(cid), bytes)
  }

  /** Validates the file (before hashing it) and derives its manifest. */
  async function manifestOf(parameters: AddModelParameters): Promise<Manifest> {
    const { bytes, engine } = parameters
    if (bytes instanceof Uint8Array && hasGgufMagic(bytes)) {
      if (parameters.zk !== undefined)
        throw new BaseError('MANIFEST_INVALID', 'A GGUF model cannot carry a zk section.', {
          metaMessages: ['Zero-knowledge mode proves quantized ONNX models only.'],
        })
      const info = validateGguf(bytes, {
        ...options.ggufLimits,
        supportedArchitectures: parameters.supportedArchitectures,
      })
      return createGgufManifest({ ...parameters, info, cid: await computeCid(bytes) })
    }
    const info = validateOnnx(bytes, {
      ...options.limits,
      ...(parameters.supportedOperators === undefined
        ? {}
        : { supportedOperators: parameters.supportedOperators }),
      ...(parameters.supportedOpsets === undefined
        ? {}
        : { supportedOpsets: parameters.supportedOpsets }),
    })
    if (engine === undefined)
      throw new BaseError('INVALID_ARGUMENT', 'Adding an ONNX model needs its engine descriptor.', {
        metaMessages: ['Pass engine: the descriptor of the onnxruntime engine that will run it.'],
      })
    return createManifest({ ...parameters, engine, cid: await computeCid(bytes), info })
  }

  async function add(parameters: AddModelParameters): Promise<AddModelReturnType> {
    const manifest = await manifestOf(parameters)
    const cid = manifest.cid
    await parameters.admit?.({ bytes: parameters.bytes, manifest })
    return serialize(async () => {
      const models = await list()
      const clash = models.find(
        (model) =>
          model.cid !== cid &&
          model.manifest.name === manifest.name &&
          model.manifest.version === manifest.version,
      )
      if (clash)
        throw new BaseError(
          'MODEL_AMBIGUOUS',
          `${manifest.name}@${manifest.version} is already stored as ${clash.cid}; this file is ${cid}.`,
          {
            metaMessages: [
              'A name@version must name exactly one file. Give this file a new version (e.g. 1.0.1) or another name.',
            ],
          },
        )
      const same = models.find((model) => model.cid === cid)
      if (same && canonicalJson(same.manifest) !== canonicalJson(manifest)) {
        const differing = differingFields(same.manifest, manifest)
        throw new BaseError(
          'MODEL_AMBIGUOUS',
          `This file (${cid}) is already stored as ${same.manifest.name}@${same.manifest.version} with a different manifest.`,
          {
            metaMessages: [
              `Fields that differ: ${differing.join(', ')}.`,
              ...(differing.includes('zk')
                ? [
                    `The zk section differs: the file was stored before its zk artifacts were compiled (or with others). To make it provable here, remove ${manifestPath(cid)} and add the file again (its manifest hash changes).`,
                  ]
                : []),
              'A file has one manifest in a store. Use the stored one, or remove it before adding the file again.',
            ],
          },
        )
      }
      await mkdir(modelsDir, { recursive: true })
      await mkdir(manifestsDir, { recursive: true })
      await ensureModelFile(cid, parameters.bytes)
      if (!same) await writeFileAtomic(manifestPath(cid), canonicalJson(manifest))
      return {
        cid,
        manifest,
        manifestHash: hashManifest(manifest),
        added: !same,
        path: modelPath(cid),
      }
    })
  }

  return { dir, add, resolve, read, list }
}

function differingFields(a: Manifest, b: Manifest): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys]
    .filter(
      (key) =>
        canonicalJson((a as Record<string, unknown>)[key] ?? null) !==
        canonicalJson((b as Record<string, unknown>)[key] ?? null),
    )
    .sort()
}
