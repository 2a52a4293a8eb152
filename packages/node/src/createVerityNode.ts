import { existsSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createAdaptorServer } from '@hono/node-server'
import { createOnnxEngine, type Engine, type TextEngine } from '@verity/engine'
import { createModelStore } from '@verity/hub'
import { BaseError, type Manifest, type VerityDomain } from '@verity/protocol'
import { createZkArtifactStore, type ZkArtifactStore } from '@verity/zk'
import type { Hono } from 'hono'
import type { LocalAccount } from 'viem'
import { createChainSeedSource } from './chain/createChainSeedSource.ts'
import { createNodeChain, type NodeChain } from './chain/createNodeChain.ts'
import { createRegistryPeerDirectory } from './chain/createRegistryPeerDirectory.ts'
import { type Challenger, createChallenger } from './challenge/createChallenger.ts'
import { createJobStore, type JobStore } from './db/createJobStore.ts'
import { createModelDistribution } from './distribution/createModelDistribution.ts'
import { createModelLookup } from './distribution/createModelLookup.ts'
import type { ModelDistribution } from './distribution/modelDistribution.ts'
import {
  createExecutor,
  type Executor,
  type RecoveryReport,
  type Verification,
} from './executor.ts'
import {
  cheatingTextVerification,
  cheatingVerification,
  withWrongOutputs,
  withWrongToken,
} from './faults.ts'
import { createHttpApi } from './http/createHttpApi.ts'
import { createHubService, type HubService } from './hub/createHubService.ts'
import { parseHubVerifyBody } from './hub/parseHubVerifyBody.ts'
import { createTextService, type TextService } from './llm/createTextService.ts'
import { loadNodeAccount } from './loadNodeAccount.ts'
import { createLogger, type NodeLogger } from './logger.ts'
import { createNodeMetrics, type NodeMetrics } from './metrics.ts'
import { createModelService, type PublishedModel } from './models.ts'
import {
  type NodeOptions,
  type NodeOptionsInput,
  nodeDomain,
  nodePaths,
  resolveNodeOptions,
} from './options.ts'
import { createSettlement, type Settlement } from './settlement/createSettlement.ts'
import { createSettlementStore, type SettlementStore } from './settlement/createSettlementStore.ts'
import {
  createReexecVerification,
  type ReexecVerification,
} from './verification/createReexecVerification.ts'
import {
  createVerificationStore,
  type VerificationStore,
} from './verification/createVerificationStore.ts'
import { createVerifier, type Verifier } from './verification/createVerifier.ts'
import { createStaticPeerDirectory, type PeerDirectory } from './verification/peerDirectory.ts'
import { createLocalSeedSource, type SeedSource } from './verification/seedSource.ts'
import {
  createVerificationMetrics,
  type VerificationMetrics,
} from './verification/verificationMetrics.ts'
import { createZkContributionService } from './zk/createZkContributionService.ts'
import { createZkVerification, type ZkVerification } from './zk/createZkVerification.ts'
import { withZkManifests } from './zk/withZkManifests.ts'

/**
 * Parts a caller may supply instead of the defaults (tests, embedders). Whatever is supplied is
 * owned by the caller: `stop()` does not close a supplied engine.
 *
 * @example
 * ```ts
 * const components: NodeComponents = { account: privateKeyToAccount(key), logger: createLogger({ level: 'silent' }) }
 * ```
 */
export type NodeComponents = {
  /** The node key; default from `options.keyFile`, `$VERITY_PRIVATE_KEY` or `<dataDir>/key.json`. */
  account?: LocalAccount | undefined
  /** Default: `createOnnxEngine(options.engine)`, closed by `stop()`. */
  engine?: Engine | undefined
  logger?: NodeLogger | undefined
  /** Where `VERITY_PRIVATE_KEY` is read (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>> | undefined
  /**
   * Verification modes beyond `none` (the seam for `reexec`, `zk`, `tee`). Default: `reexec` by
   * re-execution quorums, when the node has peers (`options.peers` or a `peers` directory), and
   * `zk` by Groth16 proofs when `options.zk.enabled` (`auto`: the zk folder holds zk sections); a
   * supplied verification for a mode replaces the default.
   */
  verifications?: readonly Verification[] | undefined
  /**
   * The text engine of a GGUF model (default: `createGgufEngine` with the manifest's decoding
   * settings); tests wrap it to inject faults.
   */
  textEngineFor?: ((manifest: Manifest) => TextEngine) | undefined
  /**
   * Who the peers are. Default: NodeRegistry when the node is connected to a chain and has no
   * static `options.peers`, else the static list.
   */
  peers?: PeerDirectory | undefined
  /**
   * What seeds verifier selection. Default: recent block hashes of the connected chain (receipts
   * record `quorum.selection`), else `createLocalSeedSource()`.
   */
  seeds?: SeedSource | undefined
  /** Clock in Unix milliseconds. */
  now?: (() => number) | undefined
}

/**
 * A built node: `start()` binds the HTTP API and resumes unfinished jobs; `stop()` tears down.
 *
 * @example
 * ```ts
 * const node: VerityNode = await createVerityNode({ dataDir })
 * const url = await node.start()
 * ```
 */
export type VerityNode = {
  readonly options: Readonly<NodeOptions>
  readonly address: `0x${string}`
  readonly domain: VerityDomain
  /** The HTTP API, usable in-process (`node.app.request('/v1/health')`) without `start()`. */
  readonly app: Hono
  readonly metrics: NodeMetrics
  readonly executor: Executor
  readonly jobs: JobStore
  /** The verifier role (`POST /v1/verify`). */
  readonly verifier: Verifier
  /** Attestations given and fraud evidence (`GET /v1/evidence`). */
  readonly verification: VerificationStore
  readonly verificationMetrics: VerificationMetrics
  readonly peers: PeerDirectory
  /** The chain connection (`options.network.rpcUrl`), if any. */
  readonly chain: NodeChain | undefined
  /** Helia model distribution (`options.ipfs`), if running. */
  readonly distribution: ModelDistribution | undefined
  /** InferenceHub watcher and co-signer (connected nodes). */
  readonly hub: HubService | undefined
  /** Batches receipts, commits, finalizes and withdraws earnings (connected nodes). */
  readonly settlement: Settlement | undefined
  /** Text generation on GGUF models (OpenAI-compatible routes); engines start on first use. */
  readonly text: TextService
  /** Fraud-proof sender (connected nodes). */
  readonly challenger: Challenger | undefined
  /** The zk artifact store (`options.zk.dir`): manifests' zk sections, proving artifacts. */
  readonly zkArtifacts: ZkArtifactStore
  /** Mode `zk` (its proving queue and pre-flight checks) when enabled and not supplied. */
  readonly zk: ZkVerification | undefined
  /** Aborts when the node stops; everything long-running listens to it. */
  readonly signal: AbortSignal
  /** The bound URL once started. */
  readonly url: string | undefined
  /** The recovery pass started by `start()` (resolves to an empty report before that). */
  readonly recovery: Promise<RecoveryReport>
  /** Listens on `options.host:options.port` and returns the URL (`http://127.0.0.1:PORT`). */
  start(): Promise<string>
  /**
   * Stops accepting requests, waits up to `options.drainTimeoutMs` for running jobs (then aborts
   * them: they stay stored and resume on the next start), closes the engine and the database.
   * Idempotent.
   */
  stop(): Promise<void>
}

function formatUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/**
 * The composition root: options → key → database → zk artifacts and model store → engine →
 * peers → verifier, `reexec` and `zk` verifications → executor → HTTP API.
 * Nothing listens until `start()`; `stop()` tears down in reverse order. One `AbortSignal`
 * (`node.signal`) spans the node's life.
 *
 * @example
 * ```ts
 * const node = await createVerityNode({ dataDir: './data', port: 8080 })
 * const url = await node.start()
 * process.on('SIGTERM', () => node.stop())
 * ```
 */
export async function createVerityNode(
  input: NodeOptionsInput = {},
  components: NodeComponents = {},
): Promise<VerityNode> {
  const options = resolveNodeOptions(input)
  const paths = nodePaths(options.dataDir)
  const logger = components.logger ?? createLogger({ level: options.logLevel })
  const log = logger.child({ module: 'node' })
  const account =
    components.account ??
    (await loadNodeAccount({
      file: options.keyFile ?? paths.key,
      explicitFile: options.keyFile !== undefined,
      env: components.env ?? process.env,
    }))
  const domain = nodeDomain(options.network)
  const metrics = createNodeMetrics()
  const controller = new AbortController()
  const network = options.network
  const chain: NodeChain | undefined =
    network?.rpcUrl !== undefined && network.contracts !== undefined
      ? createNodeChain(
          {
            rpcUrl: network.rpcUrl,
            chainId: network.chainId,
            contracts: network.contracts,
            deployedAt: network.deployedAt,
            pollingIntervalMs: Math.min(1000, options.settlement.pollIntervalMs),
          },
          { account, registry: metrics.registry },
        )
      : undefined
  const jobs = createJobStore({
    path: paths.database,
    ...(components.now ? { now: components.now } : {}),
  })
  let verification: VerificationStore
  let engine: Engine
  try {
    verification = createVerificationStore({ path: paths.database, now: components.now })
  } catch (error) {
    jobs.close()
    throw error
  }
  let settlementStore: SettlementStore | undefined
  try {
    settlementStore = chain
      ? createSettlementStore({ path: paths.database, now: components.now })
      : undefined
    engine = components.engine ?? createOnnxEngine(options.engine)
  } catch (error) {
    settlementStore?.close()
    verification.close()
    jobs.close()
    throw error
  }
  const ownsEngine = components.engine === undefined
  const zkArtifacts = createZkArtifactStore({ dir: options.zk.dir })
  // every model added here (published, fetched) gets the zk section this node holds for it
  const store = withZkManifests(
    createModelStore({
      dir: paths.store,
      limits: { maxModelBytes: options.maxModelBytes },
    }),
    { artifacts: zkArtifacts },
  )
  const peers =
    components.peers ??
    (chain && options.peers.length === 0
      ? createRegistryPeerDirectory({ ttlMs: 5_000 }, { chain, logger })
      : createStaticPeerDirectory(options.peers))
  let distribution: ModelDistribution | undefined
  if (options.ipfs)
    try {
      distribution = await createModelDistribution(
        {
          dataDir: options.dataDir,
          maxModelBytes: options.maxModelBytes,
          fetchTimeoutMs: options.modelFetchTimeoutMs,
        },
        {
          store,
          engine,
          peers,
          address: account.address,
          registry: metrics.registry,
          logger,
          // a model's zk artifacts are served beside it, so peers can prove it too
          attachments: {
            async held(model) {
              const { zk } = model.manifest
              if (zk === undefined) return []
              const missing = new Set(await zkArtifacts.missing(zk))
              return [...new Set(Object.values(zk.artifacts))].filter((cid) => !missing.has(cid))
            },
            read: (cid) => zkArtifacts.read(cid),
            path: (cid) => `/v1/zk/artifacts/${cid}`,
          },
        },
      )
    } catch (error) {
      if (ownsEngine) await engine.close()
      settlementStore?.close()
      verification.close()
      jobs.close()
      throw error
    }
  const models = createModelService({
    store,
    engine,
    logger,
    fetcher: distribution,
    lookup: distribution
      ? createModelLookup({ peers, chain, logger, address: account.address })
      : undefined,
    onPublished: distribution
      ? async ({ bytes, cid, manifest }: PublishedModel) => {
          // with the files beside it (zk artifacts), so peers can prove it too
          await distribution?.provide(bytes, { model: { cid, manifest } })
        }
      : undefined,
  })
  const verificationMetrics = createVerificationMetrics(metrics.registry)
  const supplied = components.verifications ?? []
  // `reexec` is offered when there is someone to verify with: configured peers or a directory
  const offersReexec =
    components.peers !== undefined || options.peers.length > 0 || chain !== undefined
  const seeds =
    components.seeds ??
    (chain ? createChainSeedSource({ confirmations: 1 }, { chain }) : createLocalSeedSource())
  let verifications =
    supplied.some((v) => v.mode === 'reexec') || !offersReexec
      ? supplied
      : [
          ...supplied,
          createReexecVerification(
            { domain, timeoutMs: options.verifyTimeoutMs },
            {
              address: account.address,
              peers,
              seeds,
              store: verification,
              metrics: verificationMetrics,
              logger,
            },
          ),
        ]
  // `auto`: offered when the artifact folder holds some model's zk section
  const zkEnabled =
    options.zk.enabled === 'auto' ? existsSync(join(options.zk.dir, 'models')) : options.zk.enabled
  const zk: ZkVerification | undefined =
    zkEnabled && !supplied.some((v) => v.mode === 'zk')
      ? createZkVerification(
          { budget: options.zk.budget },
          { artifacts: zkArtifacts, files: distribution, logger, registry: metrics.registry },
        )
      : undefined
  if (zk) verifications = [...verifications, zk]
  // text generations use the same quorums (taken before the tensor fault wrapper; text has its own)
  const reexec = verifications.find(
    (v): v is ReexecVerification => v.mode === 'reexec' && 'completeText' in v,
  )
  if (options.fault === 'wrong-output') {
    logger.warn({ fault: options.fault }, 'FAULT INJECTED: this node cheats on purpose')
    verifications = verifications.map((v) => cheatingVerification(v, logger))
  }
  // every connected node settles: executors commit their receipts, verifiers withdraw their share
  const settlement: Settlement | undefined =
    chain && settlementStore
      ? createSettlement(
          { domain, ...options.settlement },
          {
            chain,
            store: settlementStore,
            jobs,
            logger,
            registry: metrics.registry,
            now: components.now,
          },
        )
      : undefined
  const text = createTextService(
    { domain, unsignedDeadlineSeconds: options.unsignedDeadlineSeconds },
    {
      store,
      // a model this node lacks is looked up on peers and fetched, as for /v1/infer
      resolve: (reference: string, signal?: AbortSignal) =>
        models.resolve(reference, { lookup: true, signal }),
      account,
      logger,
      registry: metrics.registry,
      now: components.now,
      engineFor: components.textEngineFor,
      ...(options.fault === 'wrong-output'
        ? {
            reexec: reexec && cheatingTextVerification(reexec, logger),
            alterCompletion: withWrongToken,
          }
        : { reexec }),
      jobs,
      settlement,
    },
  )
  const verifier = createVerifier(
    { domain, enabled: options.roles.includes('verifier') },
    {
      account,
      engine,
      models,
      peers,
      store: verification,
      metrics: verificationMetrics,
      logger,
      text,
      signal: controller.signal,
    },
  )
  const executor = createExecutor(
    {
      domain,
      maxJobAttempts: options.maxJobAttempts,
      unsignedDeadlineSeconds: options.unsignedDeadlineSeconds,
      enabled: options.roles.includes('executor'),
    },
    {
      account,
      engine: options.fault === 'wrong-output' ? withWrongOutputs(engine) : engine,
      models,
      jobs,
      metrics,
      logger,
      signal: controller.signal,
      verifications,
      settlement,
      now: components.now,
    },
  )
  const hub: HubService | undefined = chain
    ? createHubService(
        {
          execute: options.roles.includes('executor'),
          verify: options.roles.includes('verifier'),
          pollIntervalMs: options.settlement.pollIntervalMs,
        },
        {
          chain,
          engine,
          models,
          peers,
          logger,
          registry: metrics.registry,
          signal: controller.signal,
          now: components.now,
          // mode-2 requests are proven through the node's one proving queue
          ...(zk ? { zk: { store: zkArtifacts, prover: zk.prover, preflight: zk.preflight } } : {}),
        },
      )
    : undefined
  const challenger: Challenger | undefined = chain
    ? createChallenger(
        { pollIntervalMs: options.settlement.pollIntervalMs, auditAll: options.auditAll },
        { chain, store: verification, peers, logger, registry: metrics.registry },
      )
    : undefined
  let stopping = false
  const app = createHttpApi(
    {
      maxBodyBytes: options.maxBodyBytes,
      maxModelBytes: options.maxModelBytes,
      allowPublish: options.allowPublish,
    },
    {
      executor,
      models,
      jobs,
      metrics,
      logger,
      engine,
      verifier,
      evidence: verification,
      text,
      ...(zkEnabled
        ? {
            zkArtifacts,
            zkContribute: createZkContributionService(
              { coordinators: options.zk.coordinators },
              { account, now: components.now },
            ).contribute,
          }
        : {}),
      connected: {
        ...(distribution
          ? {
              ipfs: () => ({
                peerId: (distribution as ModelDistribution).peerId,
                multiaddrs: (distribution as ModelDistribution).multiaddrs(),
              }),
            }
          : {}),
        ...(chain ? { chain: { rpcUrl: chain.rpcUrl, contracts: { ...chain.contracts } } } : {}),
        ...(hub ? { hubVerify: (body: unknown) => hub.verify(parseHubVerifyBody(body)) } : {}),
        ...(settlement
          ? {
              batch: (batchId: bigint) => settlement.batch(batchId),
              settlementStatus: () => settlement.status(),
              priceOf: (cid: string) => settlement.priceOf(cid),
            }
          : {}),
      },
      address: account.address,
      domain,
      roles: options.roles,
      isStopping: () => stopping,
    },
  )
  const server = createAdaptorServer({ fetch: app.fetch })
  let url: string | undefined
  let recovery: Promise<RecoveryReport> = Promise.resolve({ completed: 0, failed: 0, skipped: 0 })
  let starting: Promise<string> | undefined
  let stopped: Promise<void> | undefined

  async function listen(): Promise<string> {
    if (stopping) throw new BaseError('ENGINE_CLOSED', 'This node was stopped; create a new one.')
    await distribution?.start()
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        server.off('listening', onListening)
        reject(
          new BaseError(
            'INVALID_ARGUMENT',
            `Cannot listen on ${formatUrl(options.host, options.port)}: ${error.code ?? error.message}.`,
            {
              metaMessages: ['Choose another port (0 picks a free one) or host.'],
              cause: error,
            },
          ),
        )
      }
      const onListening = () => {
        server.off('error', onError)
        resolve()
      }
      server.once('error', onError)
      server.once('listening', onListening)
      server.listen(options.port, options.host)
    })
    const { port } = server.address() as AddressInfo
    url = formatUrl(options.host, port)
    log.info(
      {
        url,
        address: account.address,
        chainId: domain.chainId,
        roles: options.roles,
        modes: executor.modes,
      },
      'listening',
    )
    recovery = executor.recover().catch((error: unknown) => {
      log.error({ err: error }, 'recovery failed')
      return { completed: 0, failed: 0, skipped: 0 }
    })
    hub?.start()
    challenger?.start()
    settlement?.start()
    return url
  }

  async function closeServer(): Promise<void> {
    if (!server.listening) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        // connections still open after the grace period (slow clients): cut them
        if ('closeAllConnections' in server) server.closeAllConnections()
      }, 1000)
      server.close(() => {
        clearTimeout(timer)
        resolve()
      })
      if ('closeIdleConnections' in server) server.closeIdleConnections()
    })
  }

  async function shutdown(): Promise<void> {
    stopping = true
    log.info({ inFlight: executor.inFlight }, 'stopping')
    const serverClosed = closeServer()
    const watchersStopped = Promise.all([hub?.stop(), challenger?.stop()])
    if (!(await executor.drain(options.drainTimeoutMs))) {
      log.warn(
        { inFlight: executor.inFlight },
        'drain timed out: aborting running jobs (they resume on restart)',
      )
      controller.abort(new BaseError('ABORTED', 'The node is stopping.'))
      await executor.drain(5_000)
    }
    await recovery
    await settlement?.stop()
    await serverClosed
    controller.abort(new BaseError('ABORTED', 'The node is stopping.'))
    // aborted re-executions settle before the database they write to closes
    if (!(await verifier.drain(5_000)))
      log.warn({ inFlight: verifier.inFlight }, 'verifications still running at stop')
    await watchersStopped
    await distribution?.stop()
    await text.close()
    if (ownsEngine) await engine.close()
    settlementStore?.close()
    verification.close()
    jobs.close()
    log.info('stopped')
  }

  return {
    options,
    address: account.address,
    domain,
    app,
    metrics,
    executor,
    jobs,
    verifier,
    verification,
    verificationMetrics,
    peers,
    chain,
    distribution,
    hub,
    settlement,
    challenger,
    text,
    zkArtifacts,
    zk,
    signal: controller.signal,
    get url() {
      return url
    },
    get recovery() {
      return recovery
    },
    start() {
      starting ??= listen()
      return starting
    },
    stop() {
      stopped ??= shutdown()
      return stopped
    },
  }
}
