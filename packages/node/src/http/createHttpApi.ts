import type { Engine } from '@verity/engine'
import type { StoredModel } from '@verity/hub'
import {
  BaseError,
  type Hash,
  hashEngineDescriptor,
  isBaseError,
  namedTensorsToJson,
  type VerityDomain,
  zkCoordinatorHeaders,
} from '@verity/protocol'
import type { ZkArtifactStore } from '@verity/zk'
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { matchedRoutes } from 'hono/route'
import packageJson from '../../package.json' with { type: 'json' }
import type { JobStore } from '../db/createJobStore.ts'
import type { Executor } from '../executor.ts'
import type { TextService } from '../llm/createTextService.ts'
import { mountOpenAiRoutes } from '../llm/openAiRoutes.ts'
import type { NodeLogger } from '../logger.ts'
import type { NodeMetrics } from '../metrics.ts'
import type { ModelService } from '../models.ts'
import type { NodeRole } from '../options.ts'
import type { VerificationStore } from '../verification/createVerificationStore.ts'
import type { Verifier } from '../verification/createVerifier.ts'
import { parseVerifyBody } from '../verification/parseVerifyBody.ts'
import type { ZkContributionService } from '../zk/createZkContributionService.ts'
import { errorToResponse } from './errorToResponse.ts'
import { parseInferBody } from './parseInferBody.ts'

/**
 * Limits and switches of the HTTP API (from `NodeOptions`).
 *
 * @example
 * ```ts
 * const options: HttpApiOptions = { maxBodyBytes: 8 << 20, maxModelBytes: 512 << 20, allowPublish: true }
 * ```
 */
export type HttpApiOptions = {
  maxBodyBytes: number
  maxModelBytes: number
  allowPublish: boolean
}

/**
 * What the HTTP API needs from the node; each route uses only some of it.
 *
 * @example
 * ```ts
 * const app = createHttpApi(options, { executor, models, jobs, metrics, logger, engine, address, domain, roles, isStopping: () => false })
 * ```
 */
export type HttpApiComponents = {
  executor: Executor
  models: ModelService
  jobs: JobStore
  metrics: NodeMetrics
  logger: NodeLogger
  engine: Pick<Engine, 'descriptor' | 'settingsHash'>
  /** The verifier role behind `POST /v1/verify` (absent: the route answers 503). */
  verifier?: Pick<Verifier, 'verify'> | undefined
  /** Fraud evidence behind `GET /v1/evidence` (absent: an empty list). */
  evidence?: Pick<VerificationStore, 'listEvidence'> | undefined
  /** Text generation on GGUF models behind the OpenAI-compatible routes (absent: they answer 404). */
  text?: TextService | undefined
  /** The zk artifacts behind `GET /v1/zk/artifacts/:cid` (absent: the route answers 404). */
  zkArtifacts?: Pick<ZkArtifactStore, 'read'> | undefined
  /**
   * Adds this node's contribution to a phase-2 proving key when a coordinator asks
   * (`POST /v1/zk/contribute`; absent: the route answers 404): the node's randomness never leaves
   * its process.
   */
  zkContribute?: ZkContributionService['contribute'] | undefined
  /** Parts a chain-connected node adds (each absent part: its route answers 404 or is omitted). */
  connected?: ConnectedApi | undefined
  /** The node's address (its key signs receipts). */
  address: `0x${string}`
  domain: VerityDomain
  roles: readonly NodeRole[]
  /** True once the node is stopping: requests get 503, health reports `stopping`. */
  isStopping: () => boolean
  now?: (() => number) | undefined
}

/**
 * Routes and fields only a chain-connected (or IPFS-running) node has.
 *
 * @example
 * ```ts
 * const connected: ConnectedApi = { ipfs: () => ({ peerId, multiaddrs: [] }) }
 * ```
 */
export type ConnectedApi = {
  /** This node's libp2p identity for `GET /v1/network` (models are fetched from it by bitswap). */
  ipfs?: (() => { peerId: string; multiaddrs: string[] }) | undefined
  /** The chain and contracts for `GET /v1/network`. */
  chain?: { rpcUrl: string; contracts: Record<string, `0x${string}`> } | undefined
  /** `GET /v1/batches/:id`: a committed batch with its receipts (data availability for challengers). */
  batch?: ((batchId: bigint) => unknown | undefined) | undefined
  /** `GET /v1/settlement`: batcher and finalizer state. */
  settlementStatus?: (() => unknown) | undefined
  /** The on-chain price of a model (wei, decimal string), added to `GET /v1/models/:ref`. */
  priceOf?: ((cid: string) => Promise<string | undefined>) | undefined
  /** `POST /v1/hub/verify`: a peer asks this node to co-sign an InferenceHub result. */
  hubVerify?: ((body: unknown) => Promise<unknown>) | undefined
}

/**
 * The body of `GET /v1/network`: who this node is and what it signs under.
 *
 * @example
 * ```ts
 * const info: NetworkInfo = await (await fetch(`${url}/v1/network`)).json()
 * ```
 */
export type NetworkInfo = {
  name: 'verity'
  version: string
  address: `0x${string}`
  chainId: number
  domain: VerityDomain
  roles: NodeRole[]
  modes: string[]
  engine: Engine['descriptor'] & { settingsHash: Hash }
  /** Present when the node runs Helia: where to fetch its models from. */
  ipfs?: { peerId: string; multiaddrs: string[] } | undefined
  /** Present when the node is connected to its chain. */
  chain?: { rpcUrl: string; contracts: Record<string, `0x${string}`> } | undefined
}

/**
 * One entry of `GET /v1/models`.
 *
 * @example
 * ```ts
 * const { models }: { models: ModelSummary[] } = await (await fetch(`${url}/v1/models`)).json()
 * ```
 */
export type ModelSummary = {
  name: string
  version: string
  cid: string
  manifestHash: Hash
  format: string
  description?: string
}

function summary(model: StoredModel): ModelSummary {
  return {
    name: model.manifest.name,
    version: model.manifest.version,
    cid: model.cid,
    manifestHash: model.manifestHash,
    format: model.manifest.format,
    ...(model.manifest.description === undefined
      ? {}
      : { description: model.manifest.description }),
  }
}

const json = { 'content-type': 'application/json; charset=utf-8' }

async function readJson(request: Request): Promise<unknown> {
  const text = await request.text()
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new BaseError('INVALID_JSON', 'The request body is not valid JSON.', {
      details: (cause as Error).message,
      metaMessages: ['Send a JSON object with content-type application/json.'],
    })
  }
}

function tooLarge(what: string, limit: number): never {
  throw new BaseError(
    'REQUEST_TOO_LARGE',
    `The ${what} is larger than this node accepts (${limit} bytes).`,
    { metaMessages: ['Send smaller inputs (base64 tensors are the most compact form).'] },
  )
}

/**
 * The node's HTTP API (Hono), versioned under `/v1`:
 *
 * | route | |
 * |---|---|
 * | `POST /v1/chat/completions`, `POST /v1/completions` | OpenAI-compatible text generation (GGUF), streaming or not; the receipt rides along (body `receipt`, last SSE event, header `verity-receipt-id`) |
 * | `POST /v1/infer` | run a model: `{ model, inputs, request?, requester?, signature?, includeOutput? }` → `{ receipt, output }` |
 * | `GET /v1/models` | `{ models: ModelSummary[] }` |
 * | `POST /v1/models?name=&version=&license=&description=` | publish raw ONNX bytes → `{ cid, manifestHash, manifest, added }` (201 when added) |
 * | `GET /v1/models/:ref[?local=1]` | `{ cid, manifestHash, manifest, price? }` for a CID, name or name@version; without `local=1` a model the node lacks is looked up on peers and fetched |
 * | `GET /v1/receipts/:id` | `{ receipt }` of a finished job |
 * | `GET /v1/jobs/:id` | `{ id, status, modelCid, mode, requester, attempts, createdAt, updatedAt, error? }` |
 * | `POST /v1/verify` | peer re-execution: `{ receipt, inputs }` for tensor jobs, `{ receipt, method?: "replay" or "reexec" }` for text receipts → `{ attestation, observedOutputHash?, reason? }` (authenticated by the receipt's executor signature and the peer directory) |
 * | `GET /v1/evidence?jobId=&after=&limit=` | `{ evidence: Evidence[] }`: conflicting signed statements kept for challenges |
 * | `GET /v1/batches/:id` | a settlement batch this node committed, with its receipts (connected nodes) |
 * | `GET /v1/settlement` | batcher and finalizer state (connected nodes) |
 * | `POST /v1/hub/verify` | a peer asks for a co-signature on an InferenceHub result (connected nodes) |
 * | `POST /v1/zk/contribute` | a phase-2 proving key (octet-stream) with a configured coordinator's signed request (headers `verity-coordinator`, `-signature`, `-expires`; otherwise `ZK_CONTRIBUTION_UNAUTHORIZED`, 403) → the same key with this node's contribution added (headers `verity-contribution-hash`, and `verity-contribution-signer`/`-signature`: the node's EIP-191 signature over the contribution, which the transcript records), for a ceremony among nodes |
 * | `GET /v1/zk/artifacts/:cid` | a zk artifact (circuit, R1CS, witness generator, proving key, verification key, ceremony transcript) as `application/octet-stream`, checked against its CID; `ZK_ARTIFACT_NOT_FOUND` (404) otherwise |
 * | `GET /v1/network` | {@link NetworkInfo} |
 * | `GET /v1/health` | `{ status: 'ok' }` (503 `stopping` while shutting down) |
 * | `GET /v1/metrics` | Prometheus text |
 *
 * Every error goes through `errorToResponse` (in `onError` and `notFound`), so every failure is a
 * JSON `{ error: { code, message, hints? } }` with a status derived from the code. Routes are
 * tested in-process with `app.request()`.
 *
 * @example
 * ```ts
 * const app = createHttpApi({ maxBodyBytes, maxModelBytes, allowPublish: true }, components)
 * const response = await app.request('/v1/health')
 * ```
 */
export function createHttpApi(options: HttpApiOptions, components: HttpApiComponents): Hono {
  const { executor, models, jobs, metrics, domain, connected } = components
  const logger = components.logger.child({ module: 'http' })
  const app = new Hono()

  app.onError((error) => errorToResponse(error, logger))
  app.notFound((c) =>
    errorToResponse(
      new BaseError('ROUTE_NOT_FOUND', `No route ${c.req.method} ${c.req.path}.`, {
        metaMessages: [
          'The API is under /v1: infer, models, receipts, jobs, batches, settlement, verify, hub/verify, evidence, zk/artifacts, network, health, metrics.',
        ],
      }),
      logger,
    ),
  )

  app.use('*', async (c, next) => {
    const started = performance.now()
    await next()
    const last = matchedRoutes(c).at(-1)
    const route = last && last.method !== 'ALL' ? last.path : 'unmatched'
    metrics.httpRequests.inc({ route, status: String(c.res.status) })
    metrics.httpDuration.observe({ route }, (performance.now() - started) / 1000)
    logger.debug({ method: c.req.method, route, status: c.res.status }, 'request')
  })

  app.use('*', async (c, next) => {
    const path = c.req.path
    if (components.isStopping() && path !== '/v1/health' && path !== '/v1/metrics')
      throw new BaseError('NODE_UNAVAILABLE', 'The node is shutting down.', {
        metaMessages: ['Retry on another node, or here after it restarts.'],
      })
    await next()
  })

  app.use(
    '/v1/infer',
    bodyLimit({
      maxSize: options.maxBodyBytes,
      onError: () => tooLarge('request body', options.maxBodyBytes),
    }),
  )

  for (const path of ['/v1/chat/completions', '/v1/completions'])
    app.use(
      path,
      bodyLimit({
        maxSize: options.maxBodyBytes,
        onError: () => tooLarge('request body', options.maxBodyBytes),
      }),
    )
  mountOpenAiRoutes(app, { text: components.text, logger: components.logger, readJson })

  app.post('/v1/infer', async (c) => {
    const call = parseInferBody(await readJson(c.req.raw))
    const result = await executor.infer(call)
    const output = JSON.stringify(namedTensorsToJson(result.outputs))
    return c.body(`{"receipt":${result.receiptJson},"output":${output}}`, 200, {
      ...json,
      'verity-replayed': String(result.replayed),
    })
  })

  app.use(
    '/v1/verify',
    bodyLimit({
      maxSize: options.maxBodyBytes,
      onError: () => tooLarge('request body', options.maxBodyBytes),
    }),
  )

  app.post('/v1/verify', async (c) => {
    const { verifier } = components
    if (verifier === undefined)
      throw new BaseError('NODE_UNAVAILABLE', 'This node does not serve verification.', {
        metaMessages: ['Ask another peer.'],
      })
    const body = parseVerifyBody(await readJson(c.req.raw))
    const result = await verifier.verify({ ...body, signal: c.req.raw.signal })
    return c.json(
      {
        attestation: result.attestation,
        ...(result.observedOutputHash === undefined
          ? {}
          : { observedOutputHash: result.observedOutputHash }),
        ...(result.reason === undefined ? {} : { reason: result.reason }),
      },
      200,
      { 'verity-replayed': String(result.replayed) },
    )
  })

  app.get('/v1/evidence', (c) => {
    const number = (name: string, max: number): number | undefined => {
      const value = c.req.query(name)
      if (value === undefined || value === '') return undefined
      if (!/^\d+$/.test(value) || Number(value) > max)
        throw new BaseError(
          'INVALID_ARGUMENT',
          `The query parameter "${name}" is "${value}"; expected an integer from 0 to ${max}.`,
        )
      return Number(value)
    }
    const evidence =
      components.evidence?.listEvidence({
        jobId: c.req.query('jobId') || undefined,
        after: number('after', Number.MAX_SAFE_INTEGER),
        limit: number('limit', 1000),
      }) ?? []
    return c.json({ evidence })
  })

  app.get('/v1/models', async (c) => {
    const list = await models.list()
    // `models` is Verity's list; `object`/`data` the OpenAI shape (openai.models.list())
    return c.json({
      models: list.map(summary),
      object: 'list',
      data: list.map((model) => ({
        id: model.manifest.name,
        object: 'model',
        created: 0,
        owned_by: model.manifest.creator ?? 'verity',
        cid: model.cid,
        format: model.manifest.format,
      })),
    })
  })

  app.post(
    '/v1/models',
    bodyLimit({
      maxSize: options.maxModelBytes,
      onError: () => tooLarge('model file', options.maxModelBytes),
    }),
    async (c) => {
      if (!options.allowPublish)
        throw new BaseError('PUBLISH_DISABLED', 'This node does not accept model uploads.', {
          metaMessages: ['Publish to a node started with publishing allowed.'],
        })
      const name = c.req.query('name')
      if (name === undefined || name === '')
        throw new BaseError('INVALID_ARGUMENT', 'The query parameter "name" is required.', {
          metaMessages: [
            'POST /v1/models?name=digits&version=1.0.0 with the ONNX bytes as the body.',
          ],
        })
      const bytes = new Uint8Array(await c.req.arrayBuffer())
      if (bytes.length === 0)
        throw new BaseError(
          'INVALID_ARGUMENT',
          'The request body is empty; expected the ONNX file bytes.',
          {
            metaMessages: ['Send the file as application/octet-stream.'],
          },
        )
      const added = await models.publish({
        bytes,
        name,
        version: c.req.query('version') || undefined,
        license: c.req.query('license') || undefined,
        description: c.req.query('description') || undefined,
      })
      return c.json(
        {
          cid: added.cid,
          manifestHash: added.manifestHash,
          manifest: added.manifest,
          added: added.added,
        },
        added.added ? 201 : 200,
      )
    },
  )

  app.get('/v1/models/:ref', async (c) => {
    // `?local=1`: peers ask what this node holds; only clients make it look further
    const model = await models.resolve(c.req.param('ref'), {
      lookup: c.req.query('local') !== '1',
      signal: c.req.raw.signal,
    })
    const price = await components.connected?.priceOf?.(model.cid)
    return c.json({
      cid: model.cid,
      manifestHash: model.manifestHash,
      manifest: model.manifest,
      ...(price === undefined ? {} : { price }),
    })
  })

  app.get('/v1/batches/:id', (c) => {
    const id = c.req.param('id')
    const document = /^[1-9]\d{0,30}$/.test(id) ? connected?.batch?.(BigInt(id)) : undefined
    if (document === undefined)
      throw new BaseError('BATCH_NOT_FOUND', `This node committed no batch ${id}.`, {
        metaMessages: ['Batches are served by the executor that committed them.'],
      })
    return c.json(document as object)
  })

  app.get('/v1/settlement', (c) => {
    if (!connected?.settlementStatus)
      throw new BaseError(
        'NOT_SUPPORTED',
        'This node is not connected to a chain: it settles nothing.',
      )
    return c.json(connected.settlementStatus() as object)
  })

  app.use(
    '/v1/hub/verify',
    bodyLimit({
      maxSize: options.maxBodyBytes,
      onError: () => tooLarge('request body', options.maxBodyBytes),
    }),
  )

  app.post('/v1/hub/verify', async (c) => {
    if (!connected?.hubVerify)
      throw new BaseError('NODE_UNAVAILABLE', 'This node does not co-sign InferenceHub results.', {
        metaMessages: ['Ask a node that is connected to the chain and has the verifier role.'],
      })
    return c.json((await connected.hubVerify(await readJson(c.req.raw))) as object)
  })

  app.get('/v1/receipts/:id', (c) => {
    const id = c.req.param('id')
    const stored = jobs.getReceipt(id)
    if (stored === undefined) {
      const job = jobs.get(id)
      throw new BaseError(
        'RECEIPT_NOT_FOUND',
        job === undefined
          ? `No job ${id} on this node.`
          : `Job ${id} has no receipt: it is ${job.status}.`,
        {
          metaMessages: [
            job === undefined
              ? 'Receipts are kept by the node that executed the job.'
              : `See GET /v1/jobs/${id} for its status.`,
          ],
        },
      )
    }
    return c.body(`{"receipt":${stored.receiptJson}}`, 200, json)
  })

  app.get('/v1/jobs/:id', (c) => {
    const id = c.req.param('id')
    const job = jobs.get(id)
    if (job === undefined) throw new BaseError('JOB_NOT_FOUND', `No job ${id} on this node.`)
    return c.json({
      id: job.id,
      status: job.status,
      modelCid: job.modelCid,
      mode: job.mode,
      requester: job.requester,
      attempts: job.attempts,
      createdAt: job.createdAt,
      updatedAt: job.updatedAt,
      ...(job.error ? { error: job.error } : {}),
    })
  })

  app.post(
    '/v1/zk/contribute',
    bodyLimit({
      maxSize: options.maxModelBytes,
      onError: () => tooLarge('proving key', options.maxModelBytes),
    }),
    async (c) => {
      if (components.zkContribute === undefined)
        throw new BaseError('NOT_SUPPORTED', 'This node does not take part in zk ceremonies.', {
          metaMessages: ['Ask a node started with zk enabled (--zk).'],
        })
      const zkey = new Uint8Array(await c.req.arrayBuffer())
      const contributed = await components.zkContribute(zkey, {
        coordinator: c.req.header(zkCoordinatorHeaders.coordinator),
        signature: c.req.header(zkCoordinatorHeaders.signature),
        expires: c.req.header(zkCoordinatorHeaders.expires),
      })
      const { zkey: extended } = contributed
      return c.body(extended as Uint8Array<ArrayBuffer>, 200, {
        'content-type': 'application/octet-stream',
        'content-length': String(extended.byteLength),
        'verity-contribution-hash': contributed.contributionHash,
        'verity-contribution-signer': contributed.signer,
        'verity-contribution-signature': contributed.signature,
      })
    },
  )

  app.get('/v1/zk/artifacts/:cid', async (c) => {
    const cid = c.req.param('cid')
    const notFound = (cause?: unknown) =>
      new BaseError(
        'ZK_ARTIFACT_NOT_FOUND',
        `This node serves no zk artifact ${cid.slice(0, 100)}.`,
        {
          metaMessages: [
            'Artifacts are named by the CIDs in a manifest’s zk section (GET /v1/models/:ref).',
          ],
          ...(cause === undefined ? {} : { cause }),
        },
      )
    if (components.zkArtifacts === undefined || !/^b[a-z2-7]{20,128}$/.test(cid)) throw notFound()
    let bytes: Uint8Array
    try {
      bytes = await components.zkArtifacts.read(cid)
    } catch (error) {
      throw isBaseError(error, 'ZK_ARTIFACT_NOT_FOUND') ? notFound(error) : error
    }
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
      'content-type': 'application/octet-stream',
      'content-length': String(bytes.byteLength),
      'cache-control': 'public, max-age=31536000, immutable',
    })
  })

  app.get('/v1/network', (c) => {
    const info: NetworkInfo = {
      name: 'verity',
      version: packageJson.version,
      address: components.address,
      chainId: domain.chainId,
      domain,
      roles: [...components.roles],
      modes: [...executor.modes],
      engine: {
        ...components.engine.descriptor,
        settingsHash: hashEngineDescriptor(components.engine.descriptor),
      },
      ...(connected?.ipfs ? { ipfs: connected.ipfs() } : {}),
      ...(connected?.chain ? { chain: connected.chain } : {}),
    }
    return c.json(info)
  })

  app.get('/v1/health', (c) => {
    const stopping = components.isStopping()
    return c.json(
      {
        status: stopping ? 'stopping' : 'ok',
        address: components.address,
        jobsInFlight: executor.inFlight,
      },
      stopping ? 503 : 200,
    )
  })

  app.get('/v1/metrics', async (c) => {
    return c.body(await metrics.registry.metrics(), 200, {
      'content-type': metrics.registry.contentType,
    })
  })

  return app
}
