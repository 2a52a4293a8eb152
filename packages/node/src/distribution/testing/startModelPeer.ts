import { rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createAdaptorServer } from '@hono/node-server'
import { createOnnxEngine, type Engine } from '@verity/engine'
import { createModelStore, type ModelStore } from '@verity/hub'
import { BaseError } from '@verity/protocol'
import { Hono } from 'hono'
import { Registry } from 'prom-client'
import { privateKeyToAccount } from 'viem/accounts'
import { errorToResponse } from '../../http/errorToResponse.ts'
import { createLogger, type NodeLogger } from '../../logger.ts'
import { createModelService, type ModelService } from '../../models.ts'
import { tempDir } from '../../testing/fixtures.ts'
import { createModelDistribution } from '../createModelDistribution.ts'
import type { DistributionPeer, ModelAttachments, ModelDistribution } from '../modelDistribution.ts'
import type { ModelDistributionOptions } from '../options.ts'

/**
 * Folders of stopped peers, removed again when the process exits: libp2p writes the node's own
 * peer record into the datastore up to 1 s after Helia stopped (its address manager debounces the
 * update that `transport:close` triggers), which recreates `ipfs/datastore/peers/` after `stop`.
 */
const stoppedDirs = new Set<string>()
let exitHook = false

function removeAtExit(dir: string): void {
  stoppedDirs.add(dir)
  if (exitHook) return
  exitHook = true
  process.once('exit', () => {
    for (const stopped of stoppedDirs) rmSync(stopped, { recursive: true, force: true })
  })
}

/**
 * What a test peer answers on `GET /v1/network` (the fields the distribution reads).
 *
 * @example
 * ```ts
 * const info: PeerNetworkInfo = { name: 'verity', address, ipfs: { peerId, multiaddrs } }
 * ```
 */
export type PeerNetworkInfo = {
  name: 'verity'
  address: `0x${string}`
  ipfs: { peerId: string; multiaddrs: string[] }
}

/**
 * A node reduced to what model distribution involves, on loopback: a model store, a model service
 * with a real engine, a started {@link ModelDistribution} (real Helia) and a real HTTP server
 * answering `GET /v1/network` and `GET /v1/models/:ref` as the node API does. Test-only.
 *
 * @example
 * ```ts
 * const a = await startModelPeer({ index: 1, peers: () => [] })
 * const { cid } = await a.models.publish({ bytes, name: 'digits' })
 * await a.stop()
 * ```
 */
export type ModelPeer = {
  address: `0x${string}`
  url: string
  dir: string
  store: ModelStore
  models: ModelService
  distribution: ModelDistribution
  engine: Engine
  registry: Registry
  /** HTTP requests served, by path (`/v1/models/<cid>` → 1). */
  requests: Map<string, number>
  /** This node as a peer directory entry (with its libp2p peer id). */
  peer: DistributionPeer & { peerId: string }
  stop(): Promise<void>
}

/**
 * Options of {@link startModelPeer}.
 *
 * @example
 * ```ts
 * const options: StartModelPeerOptions = { index: 2, peers: () => [a.peer], distribution: { fetchTimeoutMs: 500 } }
 * ```
 */
export type StartModelPeerOptions = {
  /** Picks the node key (a fixed test key per index). */
  index: number
  /** The peer directory this node reads (called on every fetch). */
  peers: () => DistributionPeer[]
  /** An engine to share (not closed by `stop`); default: a new ONNX engine, closed by `stop`. */
  engine?: Engine | undefined
  distribution?: Partial<Omit<ModelDistributionOptions, 'dataDir'>> | undefined
  /** Rewrites the `GET /v1/network` body (hostile peers). */
  networkInfo?: ((info: PeerNetworkInfo) => unknown) | undefined
  /** Answers `GET /v1/models/:ref` instead of the store (hostile peers); `undefined` → the store. */
  modelInfo?: ((reference: string) => unknown) | undefined
  logger?: NodeLogger | undefined
  /** Files served beside stored models (see `ModelDistributionComponents.attachments`). */
  attachments?: ModelAttachments | undefined
  /** Bytes `GET /v1/files/:cid` answers with (the API path of attachments), by CID. */
  files?: ReadonlyMap<string, Uint8Array> | undefined
}

/**
 * Starts a {@link ModelPeer} in a fresh temporary folder (removed by `stop`).
 *
 * @example
 * ```ts
 * const b = await startModelPeer({ index: 2, peers: () => [a.peer] })
 * const model = await b.models.resolve(cid, { manifestHash })
 * ```
 */
export async function startModelPeer(options: StartModelPeerOptions): Promise<ModelPeer> {
  const { dir, remove } = await tempDir('verity-distribution-')
  const byte = (0x40 + options.index).toString(16).padStart(2, '0')
  const account = privateKeyToAccount(`0x${byte.repeat(32)}`)
  const logger = options.logger ?? createLogger({ level: 'silent' })
  const engine = options.engine ?? createOnnxEngine()
  const registry = new Registry()
  const store = createModelStore({
    dir: join(dir, 'store'),
    ...(options.distribution?.maxModelBytes === undefined
      ? {}
      : { limits: { maxModelBytes: options.distribution.maxModelBytes } }),
  })
  const distribution = await createModelDistribution(
    { ...options.distribution, dataDir: dir },
    {
      store,
      engine,
      peers: { list: async () => options.peers() },
      address: account.address,
      registry,
      logger,
      attachments: options.attachments,
    },
  )
  const models = createModelService({
    store,
    engine,
    logger,
    fetcher: distribution,
    onPublished: ({ bytes }) => distribution.provide(bytes),
  })
  const requests = new Map<string, number>()
  const app = new Hono()
  app.onError((error) => errorToResponse(error, logger))
  app.notFound(() => errorToResponse(new BaseError('ROUTE_NOT_FOUND', 'No such route.'), logger))
  app.use('*', async (c, next) => {
    requests.set(c.req.path, (requests.get(c.req.path) ?? 0) + 1)
    await next()
  })
  app.get('/v1/network', (c) => {
    const info: PeerNetworkInfo = {
      name: 'verity',
      address: account.address,
      ipfs: { peerId: distribution.peerId, multiaddrs: distribution.multiaddrs() },
    }
    return c.json((options.networkInfo ? options.networkInfo(info) : info) as object)
  })
  app.get('/v1/models/:ref', async (c) => {
    const reference = c.req.param('ref')
    const rewritten = options.modelInfo?.(reference)
    if (rewritten !== undefined) return c.json(rewritten as object)
    const model = await models.resolve(reference)
    return c.json({ cid: model.cid, manifestHash: model.manifestHash, manifest: model.manifest })
  })
  app.get('/v1/files/:cid', (c) => {
    const bytes = options.files?.get(c.req.param('cid'))
    if (bytes === undefined) throw new BaseError('ZK_ARTIFACT_NOT_FOUND', 'No such file here.')
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
      'content-type': 'application/octet-stream',
    })
  })
  const server = createAdaptorServer({ fetch: app.fetch })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  await distribution.start()
  let stopped: Promise<void> | undefined
  return {
    address: account.address,
    url,
    dir,
    store,
    models,
    distribution,
    engine,
    registry,
    requests,
    peer: { address: account.address, url, peerId: distribution.peerId, weight: 1n },
    stop() {
      stopped ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve())
          if ('closeAllConnections' in server) server.closeAllConnections()
        })
        await distribution.stop()
        if (options.engine === undefined) await engine.close()
        await remove()
        removeAtExit(dir)
      })()
      return stopped
    },
  }
}
