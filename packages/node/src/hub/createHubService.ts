import { encodeZkFulfillment, inferenceHubAbi, nodeRegistryAbi } from '@verity/contracts'
import type { Engine } from '@verity/engine'
import type { StoredModel } from '@verity/hub'
import {
  BaseError,
  compareOutputs,
  decodeTensors,
  type ErrorCode,
  encodeTensors,
  type Hash,
  type HubResultMessage,
  hashTensors,
  isBaseError,
  type NamedTensors,
  toBaseError,
} from '@verity/protocol'
import {
  encodeGroth16Proof,
  type Groth16Proof,
  type Prover,
  proveZkInference,
  type ZkArtifactStore,
} from '@verity/zk'
import type { Registry } from 'prom-client'
import { bytesToHex, getAbiItem, hexToBytes, isAddressEqual, keccak256 } from 'viem'
import { type NodeChain, revertName } from '../chain/createNodeChain.ts'
import type { NodeLogger } from '../logger.ts'
import type { ModelService } from '../models.ts'
import type { NodePeer, PeerDirectory } from '../verification/peerDirectory.ts'
import { hubExecutorOrder, hubVerifierOrder } from './hubExecutorOrder.ts'
import { createHubMetrics, type HubMetrics } from './hubMetrics.ts'
import { checkHubSignature, type HubSigned, hubDomain, signHubResult } from './hubResult.ts'
import { defaultHubServiceOptions, type HubServiceOptions } from './options.ts'
import {
  type HubVerifyBody,
  type HubVerifyResponse,
  hubVerifyBodyToJson,
} from './parseHubVerifyBody.ts'
import { type ActiveNode, nodeRoleBits, readActiveNodes } from './readActiveNodes.ts'
import {
  chainUnavailable,
  findHubRequest,
  type HubRequestEvent,
  type HubRequestState,
  hubRequestFromLog,
  readHubInput,
  readHubRequest,
  readModelVersion,
} from './readHubRequest.ts'
import { requestHubSignature } from './requestHubSignature.ts'

/**
 * What {@link createHubService} needs from the node.
 *
 * @example
 * ```ts
 * const components: HubServiceComponents = { chain, engine, models, peers, logger, registry: metrics.registry, signal }
 * ```
 */
export type HubServiceComponents = {
  /** The node's chain: reads, events and the serialized `fulfill` writes (its key signs). */
  chain: Pick<
    NodeChain,
    'chainId' | 'contracts' | 'deployedAt' | 'account' | 'publicClient' | 'write'
  >
  engine: Pick<Engine, 'run'>
  /** Resolves CIDs (fetching from peers when the service has a fetcher) and loads models. */
  models: Pick<ModelService, 'resolve' | 'load'>
  /** Where verifiers' URLs come from (and which executors a verifier serves). */
  peers: Pick<PeerDirectory, 'list' | 'get'>
  logger: NodeLogger
  /** Where the `verity_hub_*` metrics are registered (none when absent). */
  registry?: Registry | undefined
  /** The node's lifetime: model runs are cancelled when it aborts. */
  signal?: AbortSignal | undefined
  /** Clock in Unix milliseconds (fallback delays are measured with it). */
  now?: (() => number) | undefined
  fetch?: typeof fetch | undefined
  /**
   * Mode 2 (zk): where the models' proving artifacts are and the prover. Absent: zk requests are
   * skipped with a log line.
   */
  zk?: HubZkComponents | undefined
}

/**
 * What the hub service needs to serve mode-2 (zk) requests: the proving artifacts of the models
 * (by their manifests' `zk` sections) and a Groth16 prover.
 *
 * @example
 * ```ts
 * const zk: HubZkComponents = { store: createZkArtifactStore({ dir: zkDir }), prover: createGroth16Prover() }
 * ```
 */
export type HubZkComponents = {
  store: Pick<ZkArtifactStore, 'load'>
  prover: Prover<Groth16Proof>
  /**
   * The node's check before proving (its zk budget; artifacts fetched from peers when missing):
   * a request it refuses is left for the fallback executors. Default: none.
   */
  preflight?: ((model: StoredModel) => Promise<unknown>) | undefined
}

/**
 * A `POST /v1/hub/verify` call: the parsed body and the HTTP request's signal.
 *
 * @example
 * ```ts
 * const parameters: HubVerifyParameters = { ...parseHubVerifyBody(json), signal: request.signal }
 * ```
 */
export type HubVerifyParameters = HubVerifyBody & { signal?: AbortSignal | undefined }

/**
 * What one {@link HubService.tick} saw and did.
 *
 * @example
 * ```ts
 * const { discovered, fulfilled }: HubTickReport = await hub.tick()
 * ```
 */
export type HubTickReport = {
  /** Requests newly seen by this node (mode reexec, or zk when it can prove; this node an executor). */
  discovered: number
  fulfilled: number
  skipped: number
  failed: number
  /** Attempts that failed for a reason that may pass (tried again after `retryDelayMs`). */
  retrying: number
  /** Requests waiting for this node's turn (an executor drawn earlier should act first). */
  waiting: number
  /** Set when the chain could not be read (the scan resumes on the next tick). */
  error?: ErrorCode | undefined
}

/**
 * The InferenceHub service: watches on-chain requests, fulfils the ones this node is drawn for and
 * co-signs its peers' results.
 *
 * @example
 * ```ts
 * const hub: HubService = createHubService(options, components)
 * hub.start()
 * await hub.stop()
 * ```
 */
export type HubService = {
  readonly metrics: HubMetrics
  /** Polls the chain every `pollIntervalMs` until `stop()` (the first poll catches up from `deployedAt`). */
  start(): void
  /** Stops polling and waits for the work in flight (fulfilments and verifications). Idempotent. */
  stop(): Promise<void>
  /** One poll (scan new blocks, act on due requests) and the work it started. For tests and tools. */
  tick(): Promise<HubTickReport>
  /** The verifier role behind `POST /v1/hub/verify`. Throws a typed `BaseError` when it refuses. */
  verify(parameters: HubVerifyParameters): Promise<HubVerifyResponse>
  /** Requests this node watches as an executor (waiting or being worked on). */
  readonly open: number
  /** Fulfilments and verifications running now. */
  readonly inFlight: number
}

type Entry = {
  request: HubRequestEvent
  /** When this node first saw the request (its clock): fallback delays count from here. */
  seenAt: number
  /** This node's rank in the executor draw (-1: not drawn); known after the first look. */
  rank?: number
  attempts: number
  notBefore: number
}

type Outcome = 'fulfilled' | 'skipped' | 'failed' | 'retrying' | 'waiting' | 'closed'

const MODE_REEXEC = 1
const MODE_ZK = 2

/** Refusals that do not pass with time: the request (or this node) cannot be served. */
const permanentCodes = new Set<ErrorCode>([
  'TENSOR_INVALID',
  'TENSOR_DTYPE_UNSUPPORTED',
  'TENSOR_DTYPE_MISMATCH',
  'TENSOR_SHAPE_MISMATCH',
  'TENSOR_TOO_LARGE',
  'TENSOR_ENCODING_INVALID',
  'INPUT_MISSING',
  'INPUT_UNEXPECTED',
  'INPUT_HASH_MISMATCH',
  'MODEL_NOT_FOUND',
  'MODEL_NOT_REGISTERED',
  'MODEL_INVALID',
  'MODEL_TOO_LARGE',
  'MODEL_UNSUPPORTED_OPERATOR',
  'MODEL_EXTERNAL_DATA',
  'MANIFEST_HASH_MISMATCH',
  'ENGINE_LOAD_FAILED',
  'ENGINE_OUTPUT_UNSUPPORTED',
  'MODE_UNSUPPORTED',
  'REQUEST_EXPIRED',
  'JOB_NOT_FOUND',
  // mode 2: artifacts missing or altered, a circuit that disagrees with the engine, a budget
  'ZK_ARTIFACT_NOT_FOUND',
  'ZK_ARTIFACT_INVALID',
  'ZK_PROVE_FAILED',
  'ZK_WITNESS_FAILED',
  'ZK_PROOF_INVALID',
  'ZK_ZKEY_INVALID',
  'ZK_VKEY_INVALID',
  'ZK_BUDGET_EXCEEDED',
])

/** `fulfill` reverts that end this node's attempt for good. */
const finalReverts = new Set([
  'RequestNotPending',
  'RequestExpired',
  'NotActiveExecutor',
  'WrongMode',
  // mode 2: the model's registered verifier refuses this node's proof (another circuit or key)
  'InvalidProof',
])

const watchedEvents = [
  getAbiItem({ abi: inferenceHubAbi, name: 'InferenceRequested' }),
  getAbiItem({ abi: inferenceHubAbi, name: 'InferenceFulfilled' }),
  getAbiItem({ abi: inferenceHubAbi, name: 'Refunded' }),
] as const

function boundedSet<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  if (map.size >= max && !map.has(key)) {
    const oldest = map.keys().next()
    if (!oldest.done) map.delete(oldest.value)
  }
  map.set(key, value)
}

/**
 * Creates the node's InferenceHub service (contract-callable inference: mode 1 re-execution, and
 * mode 2 zero-knowledge when `components.zk` is given).
 *
 * **Bytes convention.** Mode 1: a request's `input` bytes are protocol's canonical tensor encoding
 * (`encodeTensors(inputs)`, decoded with `decodeTensors`), so `inputHash = keccak256(input) =
 * hashTensors(inputs)`. The `output` passed to `fulfill` (and to the consumer's callback) is
 * `encodeTensors(outputs)` of the executor's run, so `outputHash = hashTensors(outputs)`.
 * Mode 2: `input` is the raw bytes of the circuit's uint8 input tensor (row-major, as the proof
 * commits to them) and `output` is `abi.encode(int256[] outputs)` of the proven int32 outputs.
 *
 * **Watching.** Every poll reads `InferenceRequested`, `InferenceFulfilled` and `Refunded` logs
 * of the hub from the last scanned block (from `chain.deployedAt` on the first poll: requests made
 * while the node was down are caught up) in ranges of `maxBlockRange`. A failed RPC call is logged
 * and the same range is read again on the next poll; each request is tracked once. Before acting,
 * the request's state is read from the contract (fulfilled, refunded or expired ones are dropped)
 * and its input from its `InferenceInput` log.
 *
 * **Who executes.** Every node computes the same order: a stake-weighted draw over the
 * `NodeRegistry` nodes that were active executors at the request's block (`hubExecutorOrder`,
 * seeded by `keccak(requestId, blockHash)` of the request's block). Rank 0 acts at once; rank `k`
 * acts `k × fallbackDelayMs` after this node first saw the request, and only if the request is
 * still open then — so a failing executor does not strand a request and executors do not race.
 * The same holds in mode 2; a node without `components.zk` skips mode-2 requests with a log line.
 *
 * **Executing (mode 1).** Resolve the model by CID under the manifest hash `ModelRegistry`
 * records for it (the model service fetches it from peers when it can), decode the input
 * (malformed bytes, an unknown model, another manifest, a shape or dtype mismatch: logged,
 * counted as `skipped`, never thrown), run the model, sign `HubResult(requestId, inputHash, keccak256(output))`, then ask
 * `quorum` co-signers in the order of `hubVerifierOrder` (active nodes with the verifier role and
 * a URL in the peer directory) over `POST /v1/hub/verify`; a verifier that refuses, fails or times
 * out is replaced by the next. With the executor's own signature and `quorum` others, `fulfill`.
 * Failures that may pass (too few verifiers answered, a transaction failed) are retried
 * `retryDelayMs` apart, `maxAttempts` times in all (then `failed`); an unreachable RPC is waited
 * out without using up attempts. Requests already expired when first seen are not tracked.
 *
 * **Executing (mode 2).** Resolve the model as in mode 1; its manifest must have a `zk` section.
 * The input must have exactly the bytes of `manifest.zk.input.shape`; it runs as the uint8 tensor
 * `manifest.zk.input.name`, the int32 output `manifest.zk.output.name` is proven with the model's
 * artifacts (`proveZkInference`, which refuses a circuit that disagrees with the engine), and
 * `fulfillWithProof(requestId, output, proof)` is sent with `proof = abi.encode(a, b, c, input,
 * outputs)` (`encodeZkFulfillment`); the model's registered verifier checks it on chain. No
 * co-signers. A missing zk section, a wrong input length, missing or altered artifacts, an engine
 * and circuit that disagree, or a verifier that refuses the proof (`InvalidProof`): logged,
 * `skipped`. Retries and metrics as in mode 1, plus `verity_hub_prove_seconds`.
 *
 * **Verifying.** {@link HubService.verify} trusts nothing from the caller but the output to judge:
 * the caller must be a known peer, an active executor on chain and sign the result itself (its
 * `HubResult` signature over the output it sends — the same scheme as the executor-signed receipt
 * of `/v1/verify`); the request, its input, model and comparison rule are read from the chain and
 * the local store; the model is re-executed and compared under the manifest's rule. Agreement is
 * answered with this node's `HubResult` signature; anything else with a typed error
 * (`OUTPUT_MISMATCH` when the output differs). Answers are cached per (request, output hash) and
 * re-executions per request, so repeated calls do not re-run the model.
 *
 * Error codes of `verify`: `NODE_UNAVAILABLE` (no verifier role, stopping),
 * `RECEIPT_SIGNER_MISMATCH` (the caller is this node, unknown, or not an active executor),
 * `SIGNATURE_INVALID`, `JOB_NOT_FOUND`, `REQUEST_EXPIRED` (expired, fulfilled or refunded),
 * `MODE_UNSUPPORTED`, `INPUT_HASH_MISMATCH`, `MODEL_NOT_FOUND`, `MODEL_NOT_REGISTERED`,
 * `MANIFEST_HASH_MISMATCH`, `TENSOR_*`, `OUTPUT_MISMATCH`, `CHAIN_UNAVAILABLE` and the engine's.
 *
 * @example
 * ```ts
 * const hub = createHubService(
 *   { ...defaultHubServiceOptions, fallbackDelayMs: 30_000 },
 *   { chain, engine, models, peers, logger, registry: metrics.registry, signal },
 * )
 * hub.start()
 * // route: app.post('/v1/hub/verify', async (c) => c.json(await hub.verify(parseHubVerifyBody(await c.req.json()))))
 * ```
 */
export function createHubService(
  input: Partial<HubServiceOptions>,
  components: HubServiceComponents,
): HubService {
  const options: HubServiceOptions = { ...defaultHubServiceOptions, ...input }
  const { chain, engine, models, peers } = components
  const { publicClient, account } = chain
  const hub = chain.contracts.inferenceHub
  const domain = hubDomain(chain.chainId, hub)
  const logger = components.logger.child({ module: 'hub' })
  const metrics = createHubMetrics(components.registry)
  const now = components.now ?? Date.now
  const signal = components.signal ?? new AbortController().signal
  const self = account.address

  /** Open requests this node may execute, in request order. */
  const entries = new Map<string, Entry>()
  /** Requests seen by the scanner (for verifier look-ups), bounded. */
  const known = new Map<string, HubRequestEvent>()
  const running = new Map<string, Promise<Outcome>>()
  const verifying = new Set<Promise<unknown>>()
  /** Signed answers by `requestId:outputHash`, and this node's own outputs by request. */
  const answers = new Map<string, HubSigned>()
  const ownOutputs = new Map<string, NamedTensors>()
  const locks = new Map<string, Promise<unknown>>()
  const activeNodeSets = new Map<string, Promise<ActiveNode[]>>()
  let nextBlock = BigInt(chain.deployedAt)
  let latestBlock: { number: bigint; timestamp: bigint } | undefined
  let polling: Promise<{ report: HubTickReport; started: Promise<Outcome>[] }> | undefined
  let failingSince: number | undefined
  let started = false
  let stopping = false
  let stopped: Promise<void> | undefined
  let timer: NodeJS.Timeout | undefined
  let loopDone: Promise<void> = Promise.resolve()

  // ------------------------------------------------------------------ chain reads

  function activeNodesAt(blockNumber: bigint | undefined): Promise<ActiveNode[]> {
    const key = blockNumber === undefined ? 'latest' : blockNumber.toString()
    let nodes = blockNumber === undefined ? undefined : activeNodeSets.get(key)
    if (nodes === undefined) {
      nodes = readActiveNodes({
        publicClient,
        nodeRegistry: chain.contracts.nodeRegistry,
        blockNumber,
      })
      if (blockNumber !== undefined) {
        boundedSet(activeNodeSets, key, nodes, 64)
        nodes.catch(() => activeNodeSets.delete(key))
      }
    }
    return nodes
  }

  /** The active nodes at the request's block (a pruned RPC without that state: the latest ones). */
  async function nodesForRequest(request: HubRequestEvent): Promise<ActiveNode[]> {
    try {
      return await activeNodesAt(request.blockNumber)
    } catch (error) {
      logger.debug(
        { requestId: String(request.requestId), code: toBaseError(error).code },
        'no state at the request block: using the latest active nodes',
      )
      return activeNodesAt(undefined)
    }
  }

  async function latest(): Promise<{ number: bigint; timestamp: bigint }> {
    try {
      const block = await publicClient.getBlock({ blockTag: 'latest' })
      latestBlock = { number: block.number, timestamp: block.timestamp }
      return latestBlock
    } catch (cause) {
      throw chainUnavailable('reading the latest block', cause)
    }
  }

  async function findRequest(requestId: bigint): Promise<HubRequestEvent> {
    const key = requestId.toString()
    const cached = known.get(key) ?? entries.get(key)?.request
    if (cached) return cached
    const found = await findHubRequest({
      publicClient,
      hub,
      requestId,
      fromBlock: BigInt(chain.deployedAt),
      maxBlockRange: options.maxBlockRange,
    })
    if (found === undefined)
      throw new BaseError(
        'JOB_NOT_FOUND',
        `InferenceHub ${hub} never announced request ${requestId}.`,
      )
    boundedSet(known, key, found, 1024)
    return found
  }

  /**
   * The model behind a request's CID under the manifest registered on chain: from the local store,
   * or fetched from peers by the model service when it can (it checks CID and manifest hash).
   */
  async function resolveModel(cid: string, callSignal: AbortSignal): Promise<StoredModel> {
    const registered = await readModelVersion({
      publicClient,
      modelRegistry: chain.contracts.modelRegistry,
      cid,
    })
    const model = await models
      .resolve(cid, { manifestHash: registered.manifestHash, signal: callSignal })
      .catch((error: unknown) => {
        // a reference that is no CID of this store (a name, ambiguous, empty) is not found either
        if (
          isBaseError(error, 'MODEL_NOT_FOUND') ||
          isBaseError(error, 'MODEL_AMBIGUOUS') ||
          isBaseError(error, 'INVALID_ARGUMENT')
        )
          return undefined
        throw error
      })
    if (model === undefined || model.cid !== cid)
      throw new BaseError('MODEL_NOT_FOUND', `This node does not have model ${cid}.`, {
        metaMessages: ['Add the model to this node (verity model add) to serve its hub requests.'],
      })
    if (registered.manifestHash !== model.manifestHash)
      throw new BaseError(
        'MANIFEST_HASH_MISMATCH',
        `Model ${cid} is registered with manifest ${registered.manifestHash}; this node holds ${model.manifestHash}.`,
        { metaMessages: ['Every node must hold the registered manifest (same comparison rule).'] },
      )
    return model
  }

  /** Reads a pending request's input bytes (they must hash to the stored inputHash). */
  async function requestInputBytes(request: HubRequestEvent, inputHash: Hash): Promise<Uint8Array> {
    const input = await readHubInput({
      publicClient,
      hub,
      requestId: request.requestId,
      blockNumber: request.blockNumber,
    })
    if (keccak256(input) !== inputHash)
      throw new BaseError(
        'INPUT_HASH_MISMATCH',
        `The input logged for request ${request.requestId} hashes to ${keccak256(input)}; the hub stores ${inputHash}.`,
      )
    return hexToBytes(input)
  }

  /** Reads a pending request's input and decodes it as canonical tensor bytes (mode 1). */
  async function requestInputs(request: HubRequestEvent, inputHash: Hash): Promise<NamedTensors> {
    const input = await requestInputBytes(request, inputHash)
    try {
      return decodeTensors(input)
    } catch (cause) {
      throw new BaseError(
        'TENSOR_ENCODING_INVALID',
        `The input of request ${request.requestId} is not canonical tensor bytes (encodeTensors).`,
        { details: toBaseError(cause).shortMessage, cause },
      )
    }
  }

  async function run(model: StoredModel, inputs: NamedTensors, callSignal: AbortSignal) {
    await models.load(model)
    const { outputs } = await engine.run({ id: model.cid, inputs, signal: callSignal })
    return outputs
  }

  // ------------------------------------------------------------------ scanning

  function track(request: HubRequestEvent, chainTime: bigint): boolean {
    const key = request.requestId.toString()
    boundedSet(known, key, request, 1024)
    if (!options.execute || entries.has(key)) return false
    if (request.deadline < chainTime) {
      // caught up long after: nothing to do but let the consumer refund
      logger.debug({ requestId: key }, 'request expired before this node saw it')
      return false
    }
    if (request.mode === MODE_ZK && components.zk === undefined) {
      metrics.requests.inc({ status: 'skipped' })
      logger.info(
        { requestId: key, mode: request.mode },
        'zk requests are not served by this node (no zk artifacts or prover): skipped',
      )
      return false
    }
    if (request.mode !== MODE_REEXEC && request.mode !== MODE_ZK) return false
    entries.set(key, { request, seenAt: now(), attempts: 0, notBefore: 0 })
    return true
  }

  async function scan(report: HubTickReport): Promise<void> {
    const head = await latest()
    while (nextBlock <= head.number) {
      const to =
        nextBlock + BigInt(options.maxBlockRange) - 1n < head.number
          ? nextBlock + BigInt(options.maxBlockRange) - 1n
          : head.number
      let logs: Awaited<ReturnType<typeof getLogs>>
      const getLogs = () =>
        publicClient.getLogs({
          address: hub,
          events: watchedEvents,
          fromBlock: nextBlock,
          toBlock: to,
          strict: true,
        })
      try {
        logs = await getLogs()
      } catch (cause) {
        throw chainUnavailable(`reading hub events of blocks ${nextBlock}–${to}`, cause)
      }
      for (const log of logs) {
        if (log.removed) continue
        if (log.eventName === 'InferenceRequested') {
          if (track(hubRequestFromLog(log), head.timestamp)) report.discovered++
        } else {
          // fulfilled or refunded: stop watching unless it is being worked on (it reads the state)
          const key = log.args.requestId.toString()
          if (!running.has(key)) entries.delete(key)
        }
      }
      nextBlock = to + 1n
    }
  }

  // ------------------------------------------------------------------ executing

  async function gather(parameters: {
    request: HubRequestEvent
    quorum: number
    message: HubResultMessage
    body: string
    log: NodeLogger
  }): Promise<HubSigned[]> {
    const { request, quorum, message, log } = parameters
    const nodes = await activeNodesAt(undefined)
    const drawn = hubVerifierOrder({
      requestId: request.requestId,
      blockHash: request.blockHash,
      nodes,
      executor: self,
    })
    const directory = await peers.list({ signal })
    const byAddress = new Map(directory.map((peer) => [peer.address.toLowerCase(), peer]))
    const order = drawn
      .map((address) => byAddress.get(address.toLowerCase()))
      .filter((peer): peer is NodePeer => peer !== undefined)
    if (order.length < quorum)
      throw new BaseError(
        'SELECTION_INVALID',
        `Request ${request.requestId} needs ${quorum} co-signer(s); ${drawn.length} active verifier(s) are on chain and ${order.length} of them have a URL in this node's peer directory.`,
        { metaMessages: ['Add peers (--peer <address>@<url>), or wait for more verifiers.'] },
      )
    const signed: HubSigned[] = []
    const failures: string[] = []
    const pending = new Set<Promise<void>>()
    const cancel = new AbortController()
    const callSignal = AbortSignal.any([signal, cancel.signal])
    let next = 0
    const ask = (peer: NodePeer) => {
      const call: Promise<void> = requestHubSignature({
        peer,
        body: parameters.body,
        message,
        domain,
        timeoutMs: options.verifyTimeoutMs,
        signal: callSignal,
        fetch: components.fetch,
      })
        .then(
          (answer) => {
            if (signed.length < quorum) signed.push(answer)
          },
          (error: unknown) => {
            if (cancel.signal.aborted) return
            const failure = toBaseError(error)
            failures.push(`${peer.address}: ${failure.code}`)
            log.warn(
              { verifier: peer.address, code: failure.code },
              failure.code === 'OUTPUT_MISMATCH'
                ? 'verifier computed another output: asking the next one'
                : 'verifier failed: asking the next one',
            )
          },
        )
        .finally(() => pending.delete(call))
      pending.add(call)
    }
    try {
      while (signed.length < quorum) {
        signal.throwIfAborted()
        while (signed.length + pending.size < quorum && next < order.length)
          ask(order[next++] as NodePeer)
        if (pending.size === 0) break
        await Promise.race(pending)
      }
    } finally {
      cancel.abort(new BaseError('ABORTED', 'The quorum is complete.'))
    }
    if (signed.length < quorum)
      throw new BaseError(
        'SELECTION_INVALID',
        `Only ${signed.length} of ${quorum} co-signer(s) signed request ${request.requestId}; all ${order.length} drawn verifier(s) were asked.`,
        { metaMessages: failures.slice(0, 5) },
      )
    return signed
  }

  async function fulfil(entry: Entry): Promise<Outcome> {
    const { request } = entry
    const { requestId } = request
    const log = logger.child({ requestId: requestId.toString() })
    const startedAt = performance.now()
    const state = await readHubRequest({ publicClient, hub, requestId })
    if (state.status !== 'pending') {
      log.debug({ status: state.status }, 'request no longer open')
      return 'closed'
    }
    if (state.mode !== MODE_REEXEC && (state.mode !== MODE_ZK || components.zk === undefined))
      throw new BaseError('MODE_UNSUPPORTED', `Request ${requestId} is in mode ${state.mode}.`)
    const head = latestBlock ?? (await latest())
    if (head.timestamp > state.deadline)
      throw new BaseError(
        'REQUEST_EXPIRED',
        `Request ${requestId} expired at ${state.deadline} (chain time ${head.timestamp}).`,
      )
    if ((entry.rank ?? 0) > 0)
      log.info({ rank: entry.rank }, 'stepping in for the executor(s) drawn before this node')
    const model = await resolveModel(request.cid, signal)
    if (state.mode === MODE_ZK && components.zk !== undefined)
      return fulfilWithProof({ entry, state, model, zk: components.zk, log, startedAt })
    const inputs = await requestInputs(request, state.inputHash)
    const outputs = await run(model, inputs, signal)
    const output = bytesToHex(encodeTensors(outputs))
    const message: HubResultMessage = {
      requestId,
      inputHash: state.inputHash,
      outputHash: keccak256(output),
    }
    const own = await signHubResult(account, domain, message)
    const cosigners =
      state.quorum === 0
        ? []
        : await gather({
            request,
            quorum: state.quorum,
            message,
            body: JSON.stringify(hubVerifyBodyToJson({ requestId, output, executor: own })),
            log,
          })
    const receipt = await chain.write(`fulfill request ${requestId}`, {
      address: hub,
      abi: inferenceHubAbi,
      functionName: 'fulfill',
      args: [requestId, output, [own, ...cosigners]],
    })
    const seconds = (performance.now() - startedAt) / 1000
    metrics.fulfillDuration.observe(seconds)
    log.info(
      {
        tx: receipt.transactionHash,
        rank: entry.rank,
        quorum: state.quorum,
        cosigners: cosigners.map((c) => c.signer),
        ms: Math.round(seconds * 1000),
      },
      'request fulfilled',
    )
    return 'fulfilled'
  }

  /**
   * Mode 2: the request's input bytes are the raw input tensor of the model's circuit; run the
   * model, prove the run and fulfil with the proof (no co-signers: the proof is the evidence).
   */
  async function fulfilWithProof(parameters: {
    entry: Entry
    state: HubRequestState
    model: StoredModel
    zk: HubZkComponents
    log: NodeLogger
    startedAt: number
  }): Promise<Outcome> {
    const { entry, state, model, zk, log, startedAt } = parameters
    const { requestId } = entry.request
    const manifestZk = model.manifest.zk
    if (manifestZk === undefined)
      throw new BaseError(
        'MODE_UNSUPPORTED',
        `Model ${model.cid} cannot be proven: its manifest has no zk section.`,
        { metaMessages: ['Only models set up for zk (verity zk compile) serve mode 2.'] },
      )
    await zk.preflight?.(model)
    const bytes = await requestInputBytes(entry.request, state.inputHash)
    const length = manifestZk.input.shape.reduce((product, dim) => product * dim, 1)
    if (bytes.length !== length)
      throw new BaseError(
        'TENSOR_SHAPE_MISMATCH',
        `The input of request ${requestId} has ${bytes.length} bytes; model ${model.cid} takes ${length} (uint8 ${JSON.stringify(manifestZk.input.shape)}).`,
        { metaMessages: ['A mode-2 input is the raw bytes of the input tensor, row-major.'] },
      )
    const inputs: NamedTensors = {
      [manifestZk.input.name]: { dtype: 'uint8', shape: manifestZk.input.shape, data: bytes },
    }
    const outputs = await run(model, inputs, signal)
    const logits = outputs[manifestZk.output.name]
    if (logits === undefined || !(logits.data instanceof Int32Array))
      throw new BaseError(
        'ZK_PROVE_FAILED',
        `Model ${model.cid} gave no int32 output "${manifestZk.output.name}" for its circuit to prove.`,
        { metaMessages: ['The manifest zk section does not describe this model.'] },
      )
    const artifacts = await zk.store.load(manifestZk)
    const proven = await proveZkInference(
      { prover: zk.prover, artifacts, input: bytes, expected: logits.data },
      { signal },
    )
    metrics.proveDuration.observe((proven.witnessMs + proven.proveMs) / 1000)
    const { output, proof } = encodeZkFulfillment({
      groth16Proof: encodeGroth16Proof(proven.zk.proof),
      input: bytes,
      outputs: proven.outputs,
    })
    const receipt = await chain.write(`fulfillWithProof request ${requestId}`, {
      address: hub,
      abi: inferenceHubAbi,
      functionName: 'fulfillWithProof',
      args: [requestId, output, proof],
    })
    const seconds = (performance.now() - startedAt) / 1000
    metrics.fulfillDuration.observe(seconds)
    log.info(
      {
        tx: receipt.transactionHash,
        rank: entry.rank,
        mode: MODE_ZK,
        proveMs: Math.round(proven.witnessMs + proven.proveMs),
        gasUsed: String(receipt.gasUsed),
        ms: Math.round(seconds * 1000),
      },
      'request fulfilled with a proof',
    )
    return 'fulfilled'
  }

  async function work(key: string, entry: Entry): Promise<Outcome> {
    const log = logger.child({ requestId: key })
    try {
      if (entry.rank === undefined) {
        const order = hubExecutorOrder({
          requestId: entry.request.requestId,
          blockHash: entry.request.blockHash,
          nodes: await nodesForRequest(entry.request),
        })
        entry.rank = order.findIndex((address) => isAddressEqual(address, self))
        if (entry.rank < 0) {
          log.debug({ executors: order.length }, 'this node is not an executor of the request')
          entries.delete(key)
          return 'closed'
        }
        log.debug({ rank: entry.rank, executor: order[0] }, 'request seen')
        if (now() < entry.seenAt + entry.rank * options.fallbackDelayMs) return 'waiting'
      }
      const outcome = await fulfil(entry)
      entries.delete(key)
      if (outcome === 'fulfilled') metrics.requests.inc({ status: 'fulfilled' })
      return outcome
    } catch (error) {
      const failure = toBaseError(error)
      if (signal.aborted) {
        log.info({ code: failure.code }, 'interrupted: the node is stopping')
        return 'retrying'
      }
      const reverted = revertName(error)
      if (reverted !== undefined && finalReverts.has(reverted)) {
        entries.delete(key)
        metrics.requests.inc({ status: 'skipped' })
        log.info(
          { revert: reverted },
          reverted === 'RequestNotPending'
            ? 'another executor fulfilled the request first'
            : 'fulfill refused by the hub: skipped',
        )
        return 'skipped'
      }
      if (permanentCodes.has(failure.code)) {
        entries.delete(key)
        metrics.requests.inc({ status: 'skipped' })
        log.warn({ code: failure.code, reason: failure.shortMessage }, 'request refused: skipped')
        return 'skipped'
      }
      // an unreachable chain is waited out (the request's deadline ends it), other failures count
      if (failure.code !== 'CHAIN_UNAVAILABLE') entry.attempts++
      if (entry.attempts >= options.maxAttempts) {
        entries.delete(key)
        metrics.requests.inc({ status: 'failed' })
        log.error(
          { code: failure.code, reason: failure.shortMessage, attempts: entry.attempts },
          'request failed: giving up',
        )
        return 'failed'
      }
      entry.notBefore = now() + options.retryDelayMs
      log.warn(
        { code: failure.code, reason: failure.shortMessage, attempt: entry.attempts },
        'request attempt failed: trying again later',
      )
      return 'retrying'
    }
  }

  /** Starts work on every open request that is due, up to `maxConcurrent` at a time. */
  function dispatch(): Promise<Outcome>[] {
    const startedNow: Promise<Outcome>[] = []
    if (stopping || signal.aborted) return startedNow
    const at = now()
    for (const [key, entry] of entries) {
      if (running.size >= options.maxConcurrent) break
      if (running.has(key) || at < entry.notBefore || !isDue(entry, at)) continue
      const task = work(key, entry)
      running.set(key, task)
      void task.finally(() => running.delete(key))
      startedNow.push(task)
    }
    return startedNow
  }

  /** Whether this node's turn has come (unknown rank: look at it now). */
  function isDue(entry: Entry, at: number): boolean {
    return entry.rank === undefined || at >= entry.seenAt + entry.rank * options.fallbackDelayMs
  }

  async function pollOnce(): Promise<{ report: HubTickReport; started: Promise<Outcome>[] }> {
    const report: HubTickReport = {
      discovered: 0,
      fulfilled: 0,
      skipped: 0,
      failed: 0,
      retrying: 0,
      waiting: 0,
    }
    try {
      await scan(report)
      if (failingSince !== undefined) {
        logger.info({ downMs: now() - failingSince }, 'chain reachable again')
        failingSince = undefined
      }
    } catch (error) {
      const failure = toBaseError(error, 'CHAIN_UNAVAILABLE')
      report.error = failure.code
      if (failingSince === undefined) {
        failingSince = now()
        logger.warn(
          { code: failure.code, reason: failure.shortMessage, nextBlock: String(nextBlock) },
          'cannot read the chain: retrying on every poll',
        )
      }
    }
    return { report, started: dispatch() }
  }

  function poll(): Promise<{ report: HubTickReport; started: Promise<Outcome>[] }> {
    polling ??= pollOnce().finally(() => {
      polling = undefined
    })
    return polling
  }

  async function loop(): Promise<void> {
    if (stopping) return
    await poll()
    if (!stopping) timer = setTimeout(() => (loopDone = loop()), options.pollIntervalMs)
  }

  // ------------------------------------------------------------------ verifying

  /** Runs `body` after every earlier verification of the same request (one re-execution). */
  function serialize<T>(key: string, body: () => Promise<T>): Promise<T> {
    const previous = locks.get(key) ?? Promise.resolve()
    const result = previous.then(body, body)
    const tail = result.then(
      () => {},
      () => {},
    )
    locks.set(key, tail)
    void tail.then(() => {
      if (locks.get(key) === tail) locks.delete(key)
    })
    return result
  }

  async function judge(parameters: HubVerifyParameters): Promise<HubSigned> {
    const { requestId, output, executor } = parameters
    const key = requestId.toString()
    if (isAddressEqual(executor.signer, self))
      throw new BaseError(
        'RECEIPT_SIGNER_MISMATCH',
        `Request ${requestId} was executed by this node (${self}); a node never co-signs its own result.`,
      )
    if ((await peers.get(executor.signer)) === undefined)
      throw new BaseError(
        'RECEIPT_SIGNER_MISMATCH',
        `Executor ${executor.signer} is not a known peer of this verifier.`,
        { metaMessages: ['Verifiers serve only executors in their peer directory.'] },
      )
    const state = await readHubRequest({ publicClient, hub, requestId })
    if (state.status !== 'pending')
      throw new BaseError('REQUEST_EXPIRED', `Request ${requestId} is already ${state.status}.`, {
        metaMessages: ['Nothing to co-sign: the request is closed.'],
      })
    if (state.mode !== MODE_REEXEC)
      throw new BaseError(
        'MODE_UNSUPPORTED',
        `Request ${requestId} is in mode ${state.mode}; verifiers co-sign mode 1 (re-execution) only.`,
      )
    const head = await latest()
    if (head.timestamp > state.deadline)
      throw new BaseError(
        'REQUEST_EXPIRED',
        `Request ${requestId} expired at ${state.deadline} (chain time ${head.timestamp}).`,
      )
    const outputHash = keccak256(output)
    const message: HubResultMessage = { requestId, inputHash: state.inputHash, outputHash }
    await checkHubSignature(executor, domain, message)
    const cached = answers.get(`${key}:${outputHash}`)
    if (cached) return cached
    const [isActive, isExecutor] = await Promise.all([
      publicClient.readContract({
        address: chain.contracts.nodeRegistry,
        abi: nodeRegistryAbi,
        functionName: 'isActive',
        args: [executor.signer],
      }),
      publicClient.readContract({
        address: chain.contracts.nodeRegistry,
        abi: nodeRegistryAbi,
        functionName: 'hasRole',
        args: [executor.signer, nodeRoleBits.executor],
      }),
    ]).catch((cause: unknown) => {
      throw chainUnavailable(`reading the registration of ${executor.signer}`, cause)
    })
    if (!isActive || !isExecutor)
      throw new BaseError(
        'RECEIPT_SIGNER_MISMATCH',
        `${executor.signer} is not an active executor in NodeRegistry; the hub would not accept its fulfilment.`,
      )
    let executorOutputs: NamedTensors
    try {
      executorOutputs = decodeTensors(hexToBytes(output))
    } catch (cause) {
      throw new BaseError(
        'TENSOR_ENCODING_INVALID',
        `The output sent for request ${requestId} is not canonical tensor bytes (encodeTensors).`,
        { details: toBaseError(cause).shortMessage, cause },
      )
    }
    return serialize(key, async () => {
      const again = answers.get(`${key}:${outputHash}`)
      if (again) return again
      const callSignal = parameters.signal ? AbortSignal.any([signal, parameters.signal]) : signal
      const request = await findRequest(requestId)
      const model = await resolveModel(request.cid, callSignal)
      let mine = ownOutputs.get(key)
      if (mine === undefined) {
        const inputs = await requestInputs(request, state.inputHash)
        mine = await run(model, inputs, callSignal)
        boundedSet(ownOutputs, key, mine, 64)
      }
      const comparison = compareOutputs(model.manifest.comparison, executorOutputs, mine)
      if (!comparison.equal) {
        metrics.verifications.inc({ verdict: 'refused' })
        logger.warn(
          { requestId: key, executor: executor.signer, reason: comparison.reason },
          'executor output differs: not signing',
        )
        throw new BaseError(
          'OUTPUT_MISMATCH',
          `This verifier re-executed request ${requestId} and gets another output: ${comparison.reason ?? 'outputs differ'}.`,
          {
            metaMessages: [
              `Executor output ${outputHash}; this verifier's ${hashTensors(mine)} (rule: ${model.manifest.comparison.kind}).`,
            ],
          },
        )
      }
      const signed = await signHubResult(account, domain, message)
      boundedSet(answers, `${key}:${outputHash}`, signed, 1024)
      metrics.verifications.inc({ verdict: 'signed' })
      logger.info({ requestId: key, executor: executor.signer }, 'hub result co-signed')
      return signed
    })
  }

  return {
    metrics,

    start() {
      if (started || stopping) return
      started = true
      logger.info(
        {
          hub,
          fromBlock: String(nextBlock),
          execute: options.execute,
          verify: options.verify,
          fallbackDelayMs: options.fallbackDelayMs,
        },
        'watching InferenceHub requests',
      )
      loopDone = loop()
    },

    stop() {
      stopped ??= (async () => {
        stopping = true
        clearTimeout(timer)
        await loopDone.catch(() => {})
        await polling?.catch(() => {})
        await Promise.allSettled([...running.values(), ...verifying])
        logger.info({ open: entries.size }, 'hub service stopped')
      })()
      return stopped
    },

    async tick() {
      const { report, started: first } = await poll()
      // work until nothing more is due now (a slot freed by one request goes to the next)
      for (let batch = first; batch.length > 0; batch = dispatch())
        for (const outcome of await Promise.all(batch))
          if (outcome !== 'closed' && outcome !== 'waiting') report[outcome]++
      const at = now()
      for (const [key, entry] of entries)
        if (!running.has(key) && !isDue(entry, at)) report.waiting++
      return report
    },

    verify(parameters) {
      if (!options.verify)
        return Promise.reject(
          new BaseError(
            'NODE_UNAVAILABLE',
            'This node does not co-sign hub results (no verifier role).',
            {
              metaMessages: ['Ask another peer.'],
            },
          ),
        )
      if (stopping || signal.aborted)
        return Promise.reject(
          new BaseError('NODE_UNAVAILABLE', 'This node is stopping.', {
            metaMessages: ['Ask another peer.'],
          }),
        )
      const task = judge(parameters).catch((error: unknown) => {
        const failure = toBaseError(error)
        if (failure.code !== 'OUTPUT_MISMATCH') {
          metrics.verifications.inc({ verdict: 'error' })
          logger.debug(
            { requestId: parameters.requestId.toString(), code: failure.code },
            'hub verification refused',
          )
        }
        throw failure
      })
      verifying.add(task)
      const forget = () => verifying.delete(task)
      task.then(forget, forget)
      return task
    },

    get open() {
      return entries.size
    },

    get inFlight() {
      return running.size + verifying.size
    },
  }
}
