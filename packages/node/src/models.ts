import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Engine } from '@verity/engine'
import {
  createGgufEngine,
  ggufEngineOptionsFromManifest,
  supportedOnnxOperators,
  supportedOnnxOpsets,
} from '@verity/engine'
import {
  type AddModelReturnType,
  hasGgufMagic,
  type ModelStore,
  type StoredModel,
} from '@verity/hub'
import { type Hash, isBaseError, type Manifest } from '@verity/protocol'
import type { ModelLookup } from './distribution/createModelLookup.ts'
import { isModelCid } from './distribution/isModelCid.ts'
import type { ModelFetcher } from './distribution/modelDistribution.ts'
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
 * Options of {@link ModelService.resolve}: the manifest the caller expects (from a signed request
 * or receipt) and the caller's signal.
 *
 * @example
 * ```ts
 * const options: ResolveModelOptions = { manifestHash: job.model.manifestHash, signal }
 * ```
 */
export type ResolveModelOptions = {
  /**
   * When given, the reference is a CID, the store does not hold it and the service has a fetcher,
   * the model is fetched from peers under this manifest (see `ModelFetcher`).
   */
  manifestHash?: Hash | undefined
  /**
   * Ask peers what a reference the node does not hold stands for (the service's `lookup`), then
   * fetch it. Only for clients' questions: a peer's question is answered from the store alone, or
   * two nodes lacking a model would ask each other in circles.
   */
  lookup?: boolean | undefined
  signal?: AbortSignal | undefined
}

/**
 * A model that was just published: its CID, bytes and manifest (what `onPublished` receives).
 *
 * @example
 * ```ts
 * const onPublished = async ({ bytes }: PublishedModel) => { await distribution.provide(bytes) }
 * ```
 */
export type PublishedModel = {
  cid: string
  bytes: Uint8Array
  manifest: Manifest
  manifestHash: Hash
}

/**
 * The node's models: the hub store (what the node has) plus the engine (what it has loaded).
 * Models load lazily on first use, once, and stay loaded. With a fetcher, a model the node does not
 * hold is fetched from its peers on first use (when the caller names its manifest hash).
 *
 * @example
 * ```ts
 * const models: ModelService = createModelService({ store, engine, logger })
 * ```
 */
export type ModelService = {
  /**
   * A CID, a name (highest version) or `name@version`. A CID not in the store is fetched from
   * peers when `options.manifestHash` is given and the service has a fetcher; the result may then
   * also be `PEER_UNREACHABLE`, `MANIFEST_HASH_MISMATCH`, `MODEL_TOO_LARGE`, … (see `ModelFetcher`).
   * A stored model is returned whatever its manifest hash: callers compare it.
   */
  resolve(reference: string, options?: ResolveModelOptions): Promise<StoredModel>
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
  /** Gets models the store lacks from peers (the node's `ModelDistribution`); absent: never. */
  fetcher?: ModelFetcher | undefined
  /**
   * Called after every successful publish (also when the file was already stored), e.g. to provide
   * the model to the network. Awaited; what it throws is logged, not returned: the model is stored.
   */
  onPublished?: ((model: PublishedModel) => Promise<unknown>) | undefined
  /**
   * With a fetcher: finds the CID and manifest hash of a reference the node does not hold (a name,
   * or a CID named without its manifest hash), so it can be fetched too.
   */
  lookup?: ModelLookup | undefined
}

/**
 * Creates the model service over a hub store and an engine, optionally fetching missing models
 * from peers (`fetcher`) and announcing published ones (`onPublished`).
 *
 * @example
 * ```ts
 * const models = createModelService({
 *   store, engine, logger,
 *   fetcher: distribution,
 *   onPublished: ({ bytes }) => distribution.provide(bytes),
 * })
 * const model = await models.resolve('digits@1.0.0')
 * const fetched = await models.resolve(cid, { manifestHash, signal })
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

  async function resolve(
    reference: string,
    options: ResolveModelOptions = {},
  ): Promise<StoredModel> {
    const version = await folderVersion()
    if (version !== resolvedVersion || version === -1) {
      resolved = new Map()
      resolvedVersion = version
    }
    const key = reference.trim()
    const cached = resolved.get(key)
    if (cached) return cached
    let model: StoredModel
    try {
      model = await store.resolve(key)
    } catch (error) {
      const { fetcher, lookup } = components
      if (fetcher === undefined || !isBaseError(error, 'MODEL_NOT_FOUND')) throw error
      const target =
        options.manifestHash !== undefined && isModelCid(key)
          ? { cid: key, manifestHash: options.manifestHash }
          : options.lookup
            ? await lookup?.(key, options.signal)
            : undefined
      if (target === undefined) throw error
      logger.info({ reference: key, cid: target.cid }, 'model not held: fetching it from peers')
      // the store changes under the fetch: the entry is cached by the next resolve
      return fetcher.fetch({ ...target, signal: options.signal })
    }
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
        const gguf = hasGgufMagic(parameters.bytes)
        const added = await store.add({
          bytes: parameters.bytes,
          name: parameters.name,
          version: parameters.version,
          license: parameters.license,
          description: parameters.description,
          ...(gguf
            ? {
                // GGUF runs on llama.cpp: the trial load happens in a throwaway engine process
                // (a malformed file may abort llama.cpp; it must not take the node with it)
                admit: async ({ bytes, manifest }) => {
                  const trialEngine = createGgufEngine(ggufEngineOptionsFromManifest(manifest))
                  try {
                    await trialEngine.load({ id: manifest.cid, bytes, manifest })
                  } finally {
                    await trialEngine.close()
                  }
                },
              }
            : {
                engine: engine.descriptor,
                supportedOperators: supportedOnnxOperators,
                supportedOpsets: supportedOnnxOpsets,
                // a trial load: only models the pinned engine can run are stored; the session is kept
                admit: async ({ bytes, manifest }) => {
                  if (loaded.has(manifest.cid)) return // already stored and runnable
                  trial = manifest.cid
                  await engine.load({ id: manifest.cid, bytes, manifest })
                },
              }),
        })
        if (!gguf && !loaded.has(added.cid)) loaded.set(added.cid, Promise.resolve())
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
        if (components.onPublished)
          try {
            await components.onPublished({
              cid: added.cid,
              bytes: parameters.bytes,
              manifest: added.manifest,
              manifestHash: added.manifestHash,
            })
          } catch (error) {
            logger.warn(
              { cid: added.cid, code: isBaseError(error) ? error.code : undefined, err: error },
              'onPublished failed (the model is stored)',
            )
          }
        return added
      } finally {
        if (trial !== undefined && !loaded.has(trial)) await engine.unload(trial).catch(() => {})
      }
    },
  }
}
