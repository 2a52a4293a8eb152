import {
  createGgufEngine,
  ggufEngineOptionsFromManifest,
  supportedOnnxOperators,
  supportedOnnxOpsets,
} from '@verity/engine'
import { computeCid, hasGgufMagic, type StoredModel } from '@verity/hub'
import type { ModelNetwork } from '@verity/hub/network'
import {
  BaseError,
  canonicalJson,
  type Hash,
  hashManifest,
  isBaseError,
  type Manifest,
} from '@verity/protocol'
import { findModelProviders, type ModelProvider, type PeerOutcome } from './findModelProviders.ts'
import { isModelCid } from './isModelCid.ts'
import {
  createModelDistributionMetrics,
  type ModelDistributionMetrics,
  type ModelFetchStatus,
} from './metrics.ts'
import type {
  FetchFilesParameters,
  FetchModelParameters,
  ModelDistribution,
  ModelDistributionComponents,
  ModelFetchProgressEvent,
} from './modelDistribution.ts'
import { type ModelDistributionOptions, resolveModelDistributionOptions } from './options.ts'
import { requestPeerBytes } from './requestPeerJson.ts'

const hashPattern = /^0x[0-9a-f]{64}$/

/** One fetch of one model, shared by every concurrent caller asking for it. */
type Attempt = {
  promise: Promise<StoredModel>
  /** Aborted when every caller gave up (or the distribution stops). */
  controller: AbortController
  waiters: number
  settled: boolean
  listeners: Set<{ onProgress: (event: ModelFetchProgressEvent) => void }>
}

/**
 * Creates (not started) the node's model distribution: a Helia node (bitswap over libp2p TCP,
 * Noise, Yamux; no bootstrap, DHT or mDNS) with its blockstore, datastore and persistent peer key
 * in `<dataDir>/ipfs` (`peer.key`: the peer id registered in `NodeRegistry`), listening on loopback
 * unless told otherwise. Helia is imported here, on demand: a node without distribution does not
 * pay its import time.
 *
 * `fetch` finds a model in four steps, and stores nothing unless all of them pass:
 * 1. ask the directory's peers (HTTP, in parallel) for `GET /v1/models/{cid}`; keep those whose
 *    manifest parses, names the CID and hashes to `manifestHash`, then read their libp2p identity
 *    and addresses from `GET /v1/network` (`ipfs: { peerId, multiaddrs }`), refusing any that
 *    contradict the directory's peer id;
 * 2. dial them in turn (the `/p2p/` id is enforced by the Noise handshake) and fetch the file over
 *    bitswap, bounded by the manifest's size (≤ `maxModelBytes`) and re-checked against the CID by
 *    the hub; a peer that sends nothing for `fetchTimeoutMs` is left for the next;
 * 3. store it through the model store (hub validation; the manifest the store derives from the
 *    bytes must be the fetched one, byte for byte; a trial load in the engine), atomically;
 * 4. the fetched blocks stay pinned, so this node serves the model to its peers from then on.
 *
 * Concurrent fetches of one model share one attempt (each caller's signal only detaches that
 * caller; the attempt stops when all have left).
 *
 * @example
 * ```ts
 * const distribution = await createModelDistribution(
 *   { dataDir: options.dataDir, maxModelBytes: options.maxModelBytes },
 *   { store, engine, peers, address: account.address, registry: metrics.registry, logger },
 * )
 * await distribution.start()
 * const model = await distribution.fetch({ cid, manifestHash })
 * await distribution.stop()
 * ```
 */
export async function createModelDistribution(
  options: ModelDistributionOptions,
  components: ModelDistributionComponents,
): Promise<ModelDistribution> {
  const resolved = resolveModelDistributionOptions(options)
  const { store, engine, peers } = components
  const logger = components.logger.child({ module: 'distribution' })
  const metrics: ModelDistributionMetrics = createModelDistributionMetrics(components.registry)
  const { createModelNetwork } = await import('@verity/hub/network')
  const network: ModelNetwork = await createModelNetwork(
    {
      dataDir: resolved.ipfsDir,
      listen: resolved.listen,
      fetchTimeoutMs: resolved.fetchTimeoutMs,
      dialTimeoutMs: resolved.dialTimeoutMs,
    },
    { logger: components.logger.child({ module: 'ipfs' }) },
  )
  const self = components.address?.toLowerCase()
  /** Attempts callers can join, by CID and manifest hash. */
  const attempts = new Map<string, Attempt>()
  /** Every attempt not settled yet, joinable or not (`stop` waits for them). */
  const pending = new Set<Promise<unknown>>()
  let running = false
  let lifetime = new AbortController()
  /** start/stop run one at a time, in call order. */
  let lifecycle: Promise<unknown> = Promise.resolve()

  function serialize(task: () => Promise<void>): Promise<void> {
    const run = lifecycle.then(task, task)
    lifecycle = run.catch(() => undefined)
    return run
  }

  async function provideStored(): Promise<void> {
    const started = performance.now()
    let models: StoredModel[]
    try {
      models = await store.list()
    } catch (error) {
      logger.warn({ err: error }, 'cannot list the model store: stored models are not provided')
      return
    }
    let provided = 0
    let attached = 0
    for (const model of models) {
      try {
        if (!(await network.has(model.cid))) {
          await network.provide(await store.read(model.cid, { verify: true }), {
            signal: lifetime.signal,
          })
          provided++
        }
        attached += await provideAttachments(model, lifetime.signal)
      } catch (error) {
        if (lifetime.signal.aborted) return
        logger.warn(
          { cid: model.cid, code: isBaseError(error) ? error.code : undefined, err: error },
          'stored model (or a file beside it) not provided',
        )
      }
    }
    logger.info(
      { models: models.length, provided, attached, ms: Math.round(performance.now() - started) },
      'stored models provided',
    )
  }

  /** Provides the files this node holds beside `model`; how many were new to the blockstore. */
  async function provideAttachments(
    model: Pick<StoredModel, 'cid' | 'manifest'>,
    signal: AbortSignal,
  ): Promise<number> {
    const { attachments } = components
    if (attachments === undefined) return 0
    let count = 0
    for (const cid of await attachments.held(model)) {
      if (await network.has(cid)) continue
      const served = await network.provide(await attachments.read(cid), { signal })
      if (served !== cid)
        throw new BaseError(
          'INTERNAL',
          `A file stored as ${cid} beside model ${model.cid} imports as ${served}.`,
          {
            metaMessages: [
              'Its CID was not computed with the pinned Kubo settings (computeCid): peers cannot fetch it by the CID the manifest names.',
            ],
          },
        )
      count++
    }
    return count
  }

  async function storedModel(cid: string): Promise<StoredModel | undefined> {
    try {
      return await store.resolve(cid)
    } catch (error) {
      if (isBaseError(error, 'MODEL_NOT_FOUND')) return undefined
      throw error
    }
  }

  /** Stores fetched bytes whose CID the hub checked, if the store derives exactly `manifest`. */
  async function admit(
    cid: string,
    manifestHash: Hash,
    manifest: Manifest,
    bytes: Uint8Array,
  ): Promise<StoredModel> {
    let trial = false
    const gguf = hasGgufMagic(bytes)
    try {
      const added = await store.add({
        bytes,
        name: manifest.name,
        version: manifest.version,
        license: manifest.license,
        description: manifest.description,
        creator: manifest.creator as `0x${string}` | undefined,
        pricing: manifest.pricing,
        engine: manifest.engine,
        comparison: manifest.comparison,
        limits: manifest.limits,
        // a zk section is checked against the bytes by the store (commitment, tensors); the key it
        // pins is the peer's claim, bound by the manifest hash the registry confirmed
        ...(manifest.zk ? { zk: manifest.zk } : {}),
        ...(gguf
          ? { decoding: manifest.gguf?.decoding }
          : { supportedOperators: supportedOnnxOperators, supportedOpsets: supportedOnnxOpsets }),
        admit: async (candidate) => {
          if (hashManifest(candidate.manifest) !== manifestHash)
            throw new BaseError(
              'MANIFEST_HASH_MISMATCH',
              `The manifest ${manifestHash} does not describe the bytes of ${cid}.`,
              {
                metaMessages: [
                  `Fields that differ from what this node reads in the file: ${differingFields(manifest, candidate.manifest).join(', ')}.`,
                  'The CID checked out, so the manifest (or the hash that named it) is wrong: nothing was stored.',
                ],
              },
            )
          if (gguf) {
            // llama.cpp may abort on a file the hub could not foresee: trial in its own process
            const trialEngine = createGgufEngine(ggufEngineOptionsFromManifest(candidate.manifest))
            try {
              await trialEngine.load({
                id: cid,
                bytes: candidate.bytes,
                manifest: candidate.manifest,
              })
            } finally {
              await trialEngine.close()
            }
            return
          }
          await engine.load({ id: cid, bytes: candidate.bytes, manifest: candidate.manifest })
          trial = true
        },
      })
      return {
        cid: added.cid,
        manifest: added.manifest,
        manifestHash: added.manifestHash,
        path: added.path,
      }
    } catch (error) {
      if (trial) await engine.unload(cid).catch(() => {})
      throw error
    }
  }

  /** The directory's peers (not this node) that hold `cid` under `manifestHash`. */
  async function findProviders(
    cid: string,
    manifestHash: Hash,
    signal: AbortSignal,
  ): Promise<{ providers: ModelProvider[]; outcomes: PeerOutcome[] }> {
    const listed = await peers.list({ signal })
    const candidates = listed.filter(
      (peer) =>
        peer.address.toLowerCase() !== self &&
        (peer.peerId === undefined || peer.peerId !== network.peerId),
    )
    if (candidates.length === 0)
      throw new BaseError(
        'MODEL_NOT_FOUND',
        `Model ${cid} is not stored here and no peer is known to fetch it from.`,
        {
          metaMessages: [
            'Add peers (--peer <address>@<url>, or NodeRegistry) or publish the model to this node.',
          ],
        },
      )
    return findModelProviders({
      peers: candidates,
      cid,
      manifestHash,
      selfPeerId: network.peerId,
      timeoutMs: resolved.httpTimeoutMs,
      concurrency: resolved.httpConcurrency,
      signal,
      fetch: components.fetch,
    })
  }

  async function fetchFromPeers(
    cid: string,
    manifestHash: Hash,
    signal: AbortSignal,
    emit: (event: ModelFetchProgressEvent) => void,
  ): Promise<StoredModel> {
    const { providers, outcomes } = await findProviders(cid, manifestHash, signal)
    emit({ type: 'peers', cid, providers: providers.length, asked: outcomes.length })
    const tried: PeerOutcome[] = outcomes.filter((outcome) => outcome.status !== 'provider')
    // every provider's manifest hashes to manifestHash: they are one and the same manifest
    const size = providers[0]?.manifest.size
    if (size !== undefined && size > resolved.maxModelBytes)
      throw new BaseError(
        'MODEL_TOO_LARGE',
        `Model ${cid} has ${size} bytes, more than the ${resolved.maxModelBytes} this node accepts.`,
        {
          metaMessages: [
            'Nothing was downloaded. Raise the node option maxModelBytes if the engine can hold it.',
          ],
        },
      )
    for (const provider of providers) {
      const bytes = await transfer(cid, provider, signal, emit, tried)
      if (bytes === undefined) continue
      emit({ type: 'store', cid })
      const model = await admit(cid, manifestHash, provider.manifest, bytes)
      logger.info(
        { cid, bytes: bytes.length, peer: provider.peer.address, peerId: provider.peerId },
        'model fetched from a peer',
      )
      return model
    }
    throw summarize(cid, manifestHash, tried)
  }

  /**
   * Dials `provider` until one of its addresses authenticates as its peer id; `false` (with the
   * reason in `tried`) if none did.
   */
  async function connect(
    cid: string,
    provider: ModelProvider,
    signal: AbortSignal,
    tried: PeerOutcome[],
  ): Promise<boolean> {
    const { peer, peerId } = provider
    const dialErrors: string[] = []
    let connected = false
    for (const address of provider.dial) {
      try {
        const dialled = await network.dial(address, { signal })
        if (dialled.peerId !== peerId) {
          dialErrors.push(`${address} authenticated as ${dialled.peerId}`)
          continue
        }
        connected = true
        break
      } catch (error) {
        if (signal.aborted) throw abortedBy(signal, `Fetching ${cid}`)
        dialErrors.push(
          `${address}: ${isBaseError(error) ? (error.details ?? error.shortMessage) : String(error)}`,
        )
      }
    }
    if (!connected)
      tried.push({
        peer,
        status: 'unreachable',
        reason: `holds it, but no libp2p address could be dialled (${dialErrors.slice(0, 3).join('; ')})`,
      })
    return connected
  }

  /** Dials `provider` and fetches the file from the network; `undefined` if this peer failed. */
  async function transfer(
    cid: string,
    provider: ModelProvider,
    signal: AbortSignal,
    emit: (event: ModelFetchProgressEvent) => void,
    tried: PeerOutcome[],
  ): Promise<Uint8Array | undefined> {
    const { peer, peerId, manifest } = provider
    emit({ type: 'dial', cid, peer: peer.address, peerId })
    if (!(await connect(cid, provider, signal, tried))) return undefined
    let received = 0
    try {
      const bytes = await network.fetch(cid, {
        maxBytes: manifest.size,
        signal,
        onProgress: (event) => {
          if (event.bytes > received) {
            metrics.fetchBytes.inc(event.bytes - received)
            received = event.bytes
          }
          emit({ type: 'transfer', cid, bytes: event.bytes, totalBytes: manifest.size })
        },
      })
      if (bytes.length !== manifest.size)
        throw new BaseError(
          'MANIFEST_HASH_MISMATCH',
          `The manifest of ${cid} declares ${manifest.size} bytes; the file has ${bytes.length}.`,
          { metaMessages: ['The manifest does not describe this model file: nothing was stored.'] },
        )
      return bytes
    } catch (error) {
      if (signal.aborted) throw abortedBy(signal, `Fetching ${cid}`)
      if (isBaseError(error, 'MODEL_NOT_FOUND')) {
        tried.push({
          peer,
          status: 'absent',
          reason: `says it holds it, but sent no block for ${resolved.fetchTimeoutMs} ms (${received} of ${manifest.size} bytes received)`,
        })
        return undefined
      }
      if (isBaseError(error, 'MODEL_TOO_LARGE'))
        throw new BaseError(
          'MANIFEST_HASH_MISMATCH',
          `The manifest of ${cid} declares ${manifest.size} bytes, but the file is larger.`,
          {
            metaMessages: ['The manifest does not describe this model file: nothing was stored.'],
            cause: error,
          },
        )
      throw error
    }
  }

  /**
   * A file `provider` sent nothing of over bitswap, asked from its API instead (where attachments
   * say they are served), held to the CID and then served from here like a fetched one.
   */
  async function fetchFromApi(
    cid: string,
    provider: ModelProvider,
    maxBytes: number,
    signal: AbortSignal,
    tried: PeerOutcome[],
  ): Promise<Uint8Array | undefined> {
    const silent = `sent no block of ${cid} over bitswap for ${resolved.fetchTimeoutMs} ms`
    const path = components.attachments?.path?.(cid)
    if (path === undefined) {
      tried.push({ peer: provider.peer, status: 'absent', reason: silent })
      return undefined
    }
    let reason: string
    try {
      const { status, bytes } = await requestPeerBytes({
        url: `${provider.peer.url}${path}`,
        timeoutMs: 4 * resolved.fetchTimeoutMs,
        maxBytes,
        signal,
      })
      if (status === 200 && (await computeCid(bytes)) === cid) {
        if ((await network.provide(bytes, { signal })) === cid) {
          logger.warn(
            { cid, peer: provider.peer.address, bytes: bytes.length },
            'file fetched from the peer’s API after its bitswap sent nothing (checked by CID)',
          )
          return bytes
        }
      }
      reason = status === 200 ? 'sent other bytes over HTTP' : `answered ${status} over HTTP`
    } catch (error) {
      if (signal.aborted) throw abortedBy(signal, `Fetching ${cid}`)
      reason = `failed over HTTP (${isBaseError(error) ? error.shortMessage : String(error)})`
    }
    tried.push({ peer: provider.peer, status: 'absent', reason: `${silent}, and ${reason}` })
    return undefined
  }

  /** {@link ModelDistribution.fetchFiles} once its parameters are checked. */
  async function fetchFilesFromPeers(
    parameters: FetchFilesParameters,
    signal: AbortSignal,
  ): Promise<Uint8Array[]> {
    const { model, cids, maxBytes, onProgress } = parameters
    const started = performance.now()
    const missing: string[] = []
    for (const cid of cids) if (!(await network.has(cid))) missing.push(cid)
    let providers: ModelProvider[] = []
    const tried: PeerOutcome[] = []
    if (missing.length > 0) {
      const found = await findProviders(model.cid, model.manifestHash, signal)
      providers = found.providers
      tried.push(...found.outcomes.filter((outcome) => outcome.status !== 'provider'))
    }
    const connected = new Map<ModelProvider, boolean>()
    const files: Uint8Array[] = []
    for (const cid of cids) {
      const options = {
        maxBytes,
        signal,
        onProgress: (event: { bytes: number; totalBytes?: number | undefined }) =>
          onProgress?.({ cid, bytes: event.bytes, totalBytes: event.totalBytes }),
      }
      if (!missing.includes(cid)) {
        files.push(await network.fetch(cid, options))
        continue
      }
      let bytes: Uint8Array | undefined
      for (const provider of providers) {
        let reachable = connected.get(provider)
        if (reachable === undefined) {
          reachable = await connect(cid, provider, signal, tried)
          connected.set(provider, reachable)
        }
        if (!reachable) continue
        try {
          bytes = await network.fetch(cid, options)
          break
        } catch (error) {
          if (signal.aborted) throw abortedBy(signal, `Fetching ${cid}`)
          if (!isBaseError(error, 'MODEL_NOT_FOUND')) throw error
          bytes = await fetchFromApi(cid, provider, maxBytes, signal, tried)
          if (bytes !== undefined) break
        }
      }
      if (bytes === undefined) {
        const asked = tried.map(
          (outcome) => `${outcome.peer.address} (${outcome.peer.url}): ${outcome.reason}`,
        )
        throw new BaseError(
          providers.length === 0 && tried.every((o) => o.status === 'unreachable')
            ? 'PEER_UNREACHABLE'
            : 'MODEL_NOT_FOUND',
          `No peer holding model ${model.cid} sent the file ${cid} it names (${providers.length} hold the model).`,
          {
            metaMessages: [
              `Peers asked (${tried.length}):`,
              ...asked.slice(0, 20),
              'A node serves the files it holds from start-up on; put them on one node of the network first.',
            ],
            details: asked.join('\n'),
          },
        )
      }
      metrics.fetchBytes.inc(bytes.length)
      files.push(bytes)
    }
    if (missing.length > 0)
      logger.info(
        {
          model: model.cid,
          files: missing.length,
          bytes: files.reduce((sum, file) => sum + file.length, 0),
          ms: Math.round(performance.now() - started),
        },
        'files fetched from peers',
      )
    return files
  }

  function run(cid: string, manifestHash: Hash, attempt: Attempt): Promise<StoredModel> {
    const signal = AbortSignal.any([lifetime.signal, attempt.controller.signal])
    const emit = (event: ModelFetchProgressEvent) => {
      for (const listener of attempt.listeners)
        try {
          listener.onProgress(event)
        } catch (error) {
          logger.debug({ err: error }, 'progress listener threw')
        }
    }
    return (async () => {
      const local = await storedModel(cid)
      if (local !== undefined) return checkLocal(local, manifestHash)
      const started = performance.now()
      let status: ModelFetchStatus = 'error'
      try {
        const model = await fetchFromPeers(cid, manifestHash, signal, emit)
        status = 'fetched'
        return model
      } catch (error) {
        status = statusOf(error)
        logger.warn(
          {
            cid,
            manifestHash,
            code: isBaseError(error) ? error.code : 'INTERNAL',
            ms: Math.round(performance.now() - started),
          },
          'model fetch failed',
        )
        throw error
      } finally {
        metrics.fetches.inc({ status })
        metrics.fetchDuration.observe({ status }, (performance.now() - started) / 1000)
      }
    })()
  }

  async function waitFor(
    key: string,
    attempt: Attempt,
    parameters: FetchModelParameters,
  ): Promise<StoredModel> {
    const { signal, onProgress } = parameters
    const listener = onProgress ? { onProgress } : undefined
    attempt.waiters++
    if (listener) attempt.listeners.add(listener)
    try {
      if (signal === undefined) return await attempt.promise
      if (signal.aborted) throw abortedBy(signal, `Fetching ${parameters.cid}`)
      return await new Promise<StoredModel>((resolve, reject) => {
        const onAbort = () => reject(abortedBy(signal, `Fetching ${parameters.cid}`))
        signal.addEventListener('abort', onAbort, { once: true })
        attempt.promise
          .then(resolve, reject)
          .finally(() => signal.removeEventListener('abort', onAbort))
      })
    } finally {
      attempt.waiters--
      if (listener) attempt.listeners.delete(listener)
      if (attempt.waiters === 0 && !attempt.settled) {
        // every caller left: stop the transfer, and let the next caller start afresh
        if (attempts.get(key) === attempt) attempts.delete(key)
        attempt.controller.abort(
          new BaseError('ABORTED', `Every caller stopped waiting for ${parameters.cid}.`),
        )
      }
    }
  }

  return {
    get peerId() {
      return network.peerId
    },

    start: () =>
      serialize(async () => {
        if (running) return
        await network.start()
        if (lifetime.signal.aborted) lifetime = new AbortController()
        running = true
        await provideStored()
      }),

    stop: () =>
      serialize(async () => {
        if (!running) return
        running = false
        lifetime.abort(
          new BaseError('ABORTED', 'The model distribution was stopped.', {
            metaMessages: ['Fetch the model again once the node runs.'],
          }),
        )
        await Promise.allSettled(pending)
        await network.stop()
      }),

    multiaddrs: () => network.multiaddrs(),

    async provide(bytes, provideOptions = {}) {
      const { model, signal } = provideOptions
      const cid = await network.provide(bytes, { signal })
      if (model !== undefined) {
        if (model.cid !== cid)
          throw new BaseError(
            'INVALID_ARGUMENT',
            `provide() was given model ${model.cid} with the bytes of ${cid}.`,
          )
        await provideAttachments(model, signal ?? lifetime.signal)
      }
      return cid
    },

    async fetchFiles(parameters) {
      const cids = parameters?.cids
      const model = parameters?.model
      if (!isModelCid(model?.cid) || !hashPattern.test(String(model?.manifestHash).toLowerCase()))
        throw new BaseError(
          'INVALID_ARGUMENT',
          'fetchFiles needs the model the files belong to: its CID and manifest hash.',
        )
      if (!Array.isArray(cids) || cids.length === 0 || cids.length > 64 || !cids.every(isModelCid))
        throw new BaseError(
          'INVALID_ARGUMENT',
          `fetchFiles needs 1 to 64 file CIDs (base32 CIDv1, raw or dag-pb, sha2-256); got ${JSON.stringify(cids).slice(0, 200)}.`,
        )
      const { maxBytes } = parameters
      if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0)
        throw new BaseError(
          'INVALID_ARGUMENT',
          `fetchFiles needs maxBytes, the largest file accepted, as a positive integer; got ${String(maxBytes)}.`,
        )
      if (!running)
        throw new BaseError('NOT_STARTED', 'The model distribution is not started.', {
          metaMessages: ['Start the node (distribution.start()) first.'],
        })
      const signal = parameters.signal
        ? AbortSignal.any([lifetime.signal, parameters.signal])
        : lifetime.signal
      const task = fetchFilesFromPeers(
        {
          ...parameters,
          model: { cid: model.cid, manifestHash: model.manifestHash.toLowerCase() as Hash },
        },
        signal,
      )
      const settled = task.catch(() => undefined)
      pending.add(settled)
      try {
        return await task
      } finally {
        pending.delete(settled)
      }
    },

    async fetch(parameters) {
      const cid = parameters?.cid
      if (!isModelCid(cid))
        throw new BaseError(
          'INVALID_ARGUMENT',
          `${JSON.stringify(cid)} is not a model CID (a base32 CIDv1, raw or dag-pb, sha2-256).`,
          { metaMessages: ['Models are fetched by CID; resolve a name on a node that holds it.'] },
        )
      const manifestHash = String(parameters.manifestHash).toLowerCase() as Hash
      if (!hashPattern.test(manifestHash))
        throw new BaseError(
          'INVALID_ARGUMENT',
          `${JSON.stringify(parameters.manifestHash)} is not a manifest hash (0x and 64 hex digits).`,
          { metaMessages: ['Use job.model.manifestHash of the request or receipt.'] },
        )
      if (!running)
        throw new BaseError(
          'NOT_STARTED',
          `The model distribution is not started: cannot fetch ${cid}.`,
          {
            metaMessages: ['Start the node (distribution.start()) first.'],
          },
        )
      const key = `${cid} ${manifestHash}`
      let attempt = attempts.get(key)
      if (attempt === undefined) {
        const created: Attempt = {
          promise: Promise.resolve() as unknown as Promise<StoredModel>,
          controller: new AbortController(),
          waiters: 0,
          settled: false,
          listeners: new Set(),
        }
        created.promise = run(cid, manifestHash, created)
        pending.add(created.promise)
        created.promise
          .finally(() => {
            created.settled = true
            pending.delete(created.promise)
            if (attempts.get(key) === created) attempts.delete(key)
          })
          .catch(() => {})
        attempts.set(key, created)
        attempt = created
      }
      return waitFor(key, attempt, parameters)
    },
  }
}

/** A stored model is returned only under the manifest asked for. */
function checkLocal(model: StoredModel, manifestHash: Hash): StoredModel {
  if (model.manifestHash === manifestHash) return model
  throw new BaseError(
    'MANIFEST_HASH_MISMATCH',
    `This node holds ${model.cid} with manifest ${model.manifestHash}, not ${manifestHash}.`,
    {
      metaMessages: [
        'A store keeps one manifest per file. Both nodes must hold the same manifest (same inputs, outputs, comparison rule).',
      ],
    },
  )
}

/** What a fetch that threw counts as in `verity_model_fetches_total{status}`. */
function statusOf(error: unknown): ModelFetchStatus {
  if (!isBaseError(error)) return 'error'
  switch (error.code) {
    case 'MODEL_NOT_FOUND':
      return 'not_found'
    case 'PEER_UNREACHABLE':
      return 'unreachable'
    case 'MANIFEST_HASH_MISMATCH':
    case 'MODEL_CID_MISMATCH':
      return 'mismatch'
    case 'MODEL_TOO_LARGE':
      return 'too_large'
    case 'ABORTED':
      return 'aborted'
    case 'INTERNAL':
    case 'NOT_STARTED':
      return 'error'
    default:
      return 'refused'
  }
}

/** The error of a fetch that no peer could serve, listing every peer asked and what it said. */
function summarize(cid: string, manifestHash: Hash, tried: readonly PeerOutcome[]): BaseError {
  const asked = tried.map(
    (outcome) => `${outcome.peer.address} (${outcome.peer.url}): ${outcome.reason}`,
  )
  const list = [`Peers asked (${tried.length}):`, ...asked.slice(0, 20)]
  if (asked.length > 20) list.push(`… and ${asked.length - 20} more`)
  const details = asked.join('\n')
  if (tried.some((outcome) => outcome.status === 'mismatch'))
    return new BaseError(
      'MANIFEST_HASH_MISMATCH',
      `No peer holds ${cid} under manifest ${manifestHash}.`,
      {
        metaMessages: [
          ...list,
          'The request or receipt names a manifest its peers do not have: check the manifest hash.',
        ],
        details,
      },
    )
  if (tried.every((outcome) => outcome.status === 'unreachable' || outcome.status === 'identity'))
    return new BaseError(
      'PEER_UNREACHABLE',
      `No peer could be reached to fetch ${cid} (${tried.length} asked).`,
      {
        metaMessages: [
          ...list,
          'Check that the peers run, and that their URLs and libp2p peer ids in the directory are current.',
        ],
        details,
      },
    )
  return new BaseError('MODEL_NOT_FOUND', `No peer has model ${cid} (${tried.length} asked).`, {
    metaMessages: [...list, 'Publish the model to a node of the network first.'],
    details,
  })
}

function abortedBy(signal: AbortSignal, what: string): BaseError {
  if (isBaseError(signal.reason)) return signal.reason
  return new BaseError('ABORTED', `${what} was aborted.`, {
    ...(signal.reason === undefined ? {} : { cause: signal.reason }),
  })
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
