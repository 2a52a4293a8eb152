import { basename, extname, resolve } from 'node:path'
import { createOnnxEngine, supportedOnnxOperators, supportedOnnxOpsets } from '@verity/engine'
import { createModelStore, defaultOnnxLimits, type StoredModel } from '@verity/hub'
import { withZkManifests } from '@verity/node'
import { createZkArtifactStore } from '@verity/zk'
import { type CliOptions, homePaths } from '../options.ts'
import { type Io, printResult } from '../output.ts'
import { readUserFile } from '../readInputs.ts'

function describe(model: StoredModel): string {
  const { manifest } = model
  const specs = (list: typeof manifest.inputs) =>
    list.map((spec) => `${spec.name} ${spec.dtype}[${spec.shape.join(',')}]`).join(', ')
  const comparison =
    manifest.comparison.kind === 'exact'
      ? 'exact'
      : `tolerance abs ${manifest.comparison.absolute} rel ${manifest.comparison.relative}`
  return [
    `model     ${manifest.name}@${manifest.version}`,
    `cid       ${model.cid}`,
    `manifest  ${model.manifestHash}`,
    `size      ${manifest.size} bytes`,
    `inputs    ${specs(manifest.inputs)}`,
    `outputs   ${specs(manifest.outputs)}`,
    `compare   ${comparison}`,
    `operators ${manifest.onnx?.operators.join(' ') ?? '-'}`,
    ...(manifest.zk
      ? [
          `zk        groth16, ${manifest.zk.constraints} constraints, verification key ${manifest.zk.verificationKeyHash}`,
        ]
      : []),
  ].join('\n')
}

/**
 * The model name a file gets by default: its base name, lower-cased, reduced to `[a-z0-9._-]`.
 *
 * @example
 * ```ts
 * modelNameFromFile('/m/Digits MLP.onnx') // 'digits-mlp'
 * ```
 */
export function modelNameFromFile(file: string): string {
  return basename(file, extname(file))
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 64)
}

export type ModelAddFlags = {
  name?: string
  version?: string
  license?: string
  description?: string
}

/**
 * `verity model add FILE`: validates an ONNX file, computes its CID and manifest, stores both.
 * When `<home>/zk` holds the file's zk artifacts (`verity zk compile`), the manifest gets their
 * `zk` section, so the model can be proven in mode `zk`.
 */
export async function modelAdd(
  io: Io,
  options: CliOptions,
  file: string,
  flags: ModelAddFlags,
): Promise<number> {
  const path = resolve(file)
  const bytes = await readUserFile(path, defaultOnnxLimits.maxModelBytes)
  const engine = createOnnxEngine()
  try {
    const paths = homePaths(options.home)
    const store = withZkManifests(createModelStore({ dir: paths.store }), {
      artifacts: createZkArtifactStore({ dir: paths.zk }),
    })
    const added = await store.add({
      bytes,
      name: flags.name ?? modelNameFromFile(path),
      ...(flags.version ? { version: flags.version } : {}),
      ...(flags.license ? { license: flags.license } : {}),
      ...(flags.description ? { description: flags.description } : {}),
      engine: engine.descriptor,
      supportedOperators: supportedOnnxOperators,
      supportedOpsets: supportedOnnxOpsets,
      // a trial load: only models the pinned engine can actually run get into the store
      admit: async ({ bytes, manifest }) => {
        await engine.load({ id: manifest.cid, bytes, manifest })
        await engine.unload(manifest.cid)
      },
    })
    const stored = await store.resolve(added.cid)
    printResult(io, options, `${added.added ? 'added' : 'already present'}\n${describe(stored)}`, {
      cid: added.cid,
      manifestHash: added.manifestHash,
      added: added.added,
      manifest: added.manifest,
    })
    return 0
  } finally {
    await engine.close()
  }
}

/** `verity model list`. */
export async function modelList(io: Io, options: CliOptions): Promise<number> {
  const models = await createModelStore({ dir: homePaths(options.home).store }).list()
  const human = models.length
    ? models
        .map((m) => `${`${m.manifest.name}@${m.manifest.version}`.padEnd(28)} ${m.cid}`)
        .join('\n')
    : 'no models yet: add one with `verity model add FILE`'
  printResult(
    io,
    options,
    human,
    models.map((m) => ({
      name: m.manifest.name,
      version: m.manifest.version,
      cid: m.cid,
      manifestHash: m.manifestHash,
    })),
  )
  return 0
}

/** `verity model show MODEL`: the manifest of a stored model. */
export async function modelShow(io: Io, options: CliOptions, reference: string): Promise<number> {
  const model = await createModelStore({ dir: homePaths(options.home).store }).resolve(reference)
  printResult(io, options, describe(model), {
    cid: model.cid,
    manifestHash: model.manifestHash,
    manifest: model.manifest,
  })
  return 0
}
