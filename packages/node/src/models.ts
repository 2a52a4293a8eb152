import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Engine } from '@verity/engine'
import { supportedOnnxOperators, supportedOnnxOpsets } from '@verity/engine'
import type { AddModelReturnType, ModelStore, StoredModel } from '@verity/hub'
import type { NodeLogger } from './logger.ts'

/**
 * What a publisher sends with the model bytes.
 *
 * @example
 * ```ts
 * const parameters: PublishModelParameters = { bytes, name: 'digits', version: '1.0.0', license: 'MIT' }
 * ```
 */
export type PublishModelParameters = {
  bytes: Uint8Array
  name: string
  version?: string | undefined
  license?: string | undefined
  description?: string | undefined
}

/**
 * The node's models: the hub store (what the node has) plus the engine (what it has loaded).
 * Models load lazily on first use, once, and stay loaded.
 *
 * @example
 * ```ts
 * const models: ModelService = createModelService({ store, engine, logger })
 * ```
 */
export type ModelService = {
  /** A CID, a name (highest version) or `name@version`. */
  resolve(reference: string): Promise<StoredModel>
  list(): Promise<StoredModel[]>
  /** Loads a stored model into the engine (verifying its CID on the way); idempotent. */
  load(model: StoredModel): Promise<void>
  /** Validates (hub limits, engine operators and opsets, a trial load) and stores a model. */
  publish(parameters: PublishModelParameters): Promise<AddModelReturnType>
}

/**
 * What {@link createModelService} needs.
 *
 * @example
 * ```ts
 * const components: ModelServiceComponents = { store: createModelStore({ dir }), engine, logger }
 * ```
 */
export type ModelServiceComponents = {
  store: ModelStore
  engine: Engine
  logger: NodeLogger
}

/**
 * Creates the model service over a hub store and an engine.
 *
 * @example
 * ```ts
 * const models = createModelService({ store, engine, logger })
 * const model = await models.resolve('digits@1.0.0')
 * await models.load(model)
 * ```
 */
export function createModelService(components: ModelServiceComponents): ModelService {
  const { store, engine } = components
  const logger = components.logger.child({ module: 'models' })
  const loaded = new Map<string, Promise<void>>()
  // Resolutions are cached while the manifests folder is unchanged: every writer (this node, the
  // CLI, a fetch from the network) adds a manifest by renaming a file into it, which changes its
  // mtime. Reading and re-hashing a manifest costs ~1.5 ms; a stat ~20 µs.
  const manifestsDir = join(store.dir, 'manifests')
  let resolved = new Map<string, StoredModel>()
  let resolvedVersion = -1
  const maxCachedReferences = 1024

  async function folderVersion(): Promise<number> {
    try {
      return (await stat(manifestsDir)).mtimeMs
    } catch {
      return -1
    }
  }

  async function resolve(reference: string): Promise<StoredModel> {
    const version = await folderVersion()
    if (version !== resolvedVersion || version === -1) {
      resolved = new Map()
      resolvedVersion = version
    }
    const key = reference.trim()
    const cached = resolved.get(key)
    if (cached) return cached
    const model = await store.resolve(key)
    if (resolvedVersion === version) {
      if (resolved.size >= maxCachedReferences) resolved.clear()
      resolved.set(key, model)
    }
    return model
  }

  function load(model: StoredModel): Promise<void> {
    let loading = loaded.get(model.cid)
    if (loading === undefined) {
      loading = (async () => {
        const started = performance.now()
        const bytes = await store.read(model.cid, { verify: true })
        await engine.load({ id: model.cid, bytes, manifest: model.manifest })
        logger.info(
          {
            cid: model.cid,
            name: model.manifest.name,
            ms: Math.round(performance.now() - started),
          },
          'model loaded',
        )
      })()
      loaded.set(model.cid, loading)
      loading.catch(() => loaded.delete(model.cid))
    }
    return loading
  }

  return {
    resolve,
    list: () => store.list(),
    load,

    async publish(parameters) {
      let trial: string | undefined
      try {
        const added = await store.add({
          bytes: parameters.bytes,
          name: parameters.name,
          version: parameters.version,
          license: parameters.license,
          description: parameters.description,
          engine: engine.descriptor,
          supportedOperators: supportedOnnxOperators,
          supportedOpsets: supportedOnnxOpsets,
          // a trial load: only models the pinned engine can run are stored; the session is kept
          admit: async ({ bytes, manifest }) => {
            if (loaded.has(manifest.cid)) return // already stored and runnable
            trial = manifest.cid
            await engine.load({ id: manifest.cid, bytes, manifest })
          },
        })
        if (!loaded.has(added.cid)) loaded.set(added.cid, Promise.resolve())
        trial = undefined
        logger.info(
          {
            cid: added.cid,
            name: added.manifest.name,
            version: added.manifest.version,
            added: added.added,
          },
          'model published',
        )
        return added
      } finally {
        if (trial !== undefined && !loaded.has(trial)) await engine.unload(trial).catch(() => {})
      }
    },
  }
}
